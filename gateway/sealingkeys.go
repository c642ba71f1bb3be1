package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// sealingKeys returns the configured keys, or the keys kept in
// cfg.Sealing.KeysFile, generating one there (mode 0600) on first start so a
// restart keeps sessions resumable; generated says it did.
func sealingKeys(cfg *config.Config) (keys []config.SealingKey, generated bool, err error) {
	if len(cfg.Sealing.Keys) > 0 {
		return cfg.Sealing.Keys, false, nil
	}
	keys, err = ReadSealingKeys(cfg.Sealing.KeysFile)
	if errors.Is(err, fs.ErrNotExist) {
		keys, err = generateSealingKey(cfg.Sealing.KeysFile)
		return keys, err == nil, err
	}
	return keys, false, err
}

// ReadSealingKeys reads a sealing keys file (the form of
// <data_dir>/sealing-keys.yaml and sealing.keys_file). A missing file is an
// error wrapping fs.ErrNotExist.
func ReadSealingKeys(path string) ([]config.SealingKey, error) {
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("gateway: sealing keys file %s: %w", path, err)
	}
	var f struct {
		Keys []config.SealingKey `koanf:"keys"`
	}
	if err := k.Unmarshal("", &f); err != nil {
		return nil, fmt.Errorf("gateway: sealing keys file %s: %w", path, err)
	}
	if err := config.ValidateSealingKeys("keys", f.Keys); err != nil {
		return nil, fmt.Errorf("gateway: sealing keys file %s: %w", path, err)
	}
	return f.Keys, nil
}

func generateSealingKey(path string) ([]config.SealingKey, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := config.SealingKey{ID: "k" + time.Now().UTC().Format("20060102"), Key: base64.StdEncoding.EncodeToString(raw)}
	body := fmt.Sprintf("# tlsgate session sealing keys: the first seals, all open. Keep secret.\nkeys:\n  - id: %s\n    key: %s\n", key.ID, key.Key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("gateway: sealing keys: %w", err)
	}
	if err := writeFileAtomic(path, []byte(body), 0o600); err != nil {
		return nil, fmt.Errorf("gateway: sealing keys: %w", err)
	}
	return []config.SealingKey{key}, nil
}
