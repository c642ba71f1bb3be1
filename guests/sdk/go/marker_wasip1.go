//go:build wasip1

package guest

// abiV1 is the export the host checks to know the module speaks ABI v1
// (abi.ExportMarker). It is never called. Importing the SDK is enough: a
// guest must not declare the marker itself (the linker would refuse a
// duplicate export).
//
//go:wasmexport tlsgate_abi_v1
func abiV1() {}
