package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"github.com/knadh/koanf/v2"
)

// A tenant document is one tenant, with the fields of an entry of tenants[]
// in the configuration file, in YAML (or JSON). tlsgate tenant put reads
// one from a file; the registry keeps them, in JSON, one per tenant.

// ParseTenantInput reads a tenant document given to tlsgate tenant put:
// it fills defaults and validates it as a registry tenant whose certificate
// is still in files (cert_file and key_file, relative to source's
// directory). Errors name source and each field path in the document
// ("guest.fetch_deadline"), all problems joined.
func ParseTenantInput(source string, data []byte) (Tenant, error) {
	t, err := parseTenant(source, data, registryInput)
	if err != nil {
		return t, err
	}
	base, err := filepath.Abs(filepath.Dir(source))
	if err != nil {
		return t, fmt.Errorf("%s: %w", source, err)
	}
	for _, p := range []*string{&t.Certificate.CertFile, &t.Certificate.KeyFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return t, nil
}

// ParseTenantStored reads a document of the tenant registry, as a gateway
// does: defaults, then validation as a registry tenant whose certificate is
// in NATS (or self-signed). Errors are as for ParseTenantInput.
func ParseTenantStored(source string, data []byte) (Tenant, error) {
	return parseTenant(source, data, registryStored)
}

func parseTenant(source string, data []byte, kind tenantKind) (Tenant, error) {
	var t Tenant
	k := koanf.New(".")
	d, err := loadYAML(k, source, data)
	if err != nil {
		return t, err
	}
	p := problems(decode(k.Raw(), &t, ""))
	t.FillDefaults()
	t.validate(&p, "", kind)
	d.place(p, true)
	return t, errors.Join(p...)
}

// bytesProvider is a koanf provider of a document in memory.
type bytesProvider []byte

func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }
func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("config: a document in memory is read with a parser")
}

// TenantDocument encodes t as a tenant document (JSON, the registry's
// form): every field that is not zero, durations as Go duration strings,
// so that parsing it gives t back.
func TenantDocument(t Tenant) ([]byte, error) {
	return json.Marshal(docValue(reflect.ValueOf(t)))
}

var durationType = reflect.TypeFor[time.Duration]()

// docValue is v as koanf reads it back: structs as maps by koanf tag, zero
// fields left out, durations as strings.
func docValue(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Pointer:
		return docValue(v.Elem())
	case v.Kind() == reflect.Struct:
		m := map[string]any{}
		for i := range v.NumField() {
			f, tag := v.Field(i), v.Type().Field(i).Tag.Get("koanf")
			if tag != "" && !f.IsZero() {
				m[tag] = docValue(f)
			}
		}
		return m
	}
	return v.Interface()
}
