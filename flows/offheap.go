package flows

import (
	"reflect"
	"unsafe"
)

// offHeap hands out the chunks of a closedStore from memory outside Go's
// heap (anonymous mappings, where the system has them), and gives them
// back at once (freeAll). The garbage collector sizes its heap goal at
// 1+GOGC/100 times the live heap; the store's chunks hold no pointers,
// so that headroom was paid for nothing: on busy.pcap the store held 80
// MB at the peak, and the goal 104 MB more for it. A nil offHeap hands
// out heap memory.
type offHeap struct {
	// mapped are the chunks mapped, to unmap in freeAll.
	mapped [][]byte
}

// alloc returns n zeroed bytes.
func (o *offHeap) alloc(n int) []byte {
	if o != nil {
		if b := mapChunk(n); b != nil {
			o.mapped = append(o.mapped, b)
			return b
		}
	}
	return make([]byte, n)
}

// freeAll unmaps every chunk alloc mapped. Nothing may use them after.
func (o *offHeap) freeAll() {
	if o == nil {
		return
	}
	for _, b := range o.mapped {
		unmapChunk(b)
	}
	o.mapped = nil
}

// recChunkBytes is the size of a chunk of closedFlow records.
const recChunkBytes = 1 << recChunkBits * int(unsafe.Sizeof(closedFlow{}))

// recChunk returns a zeroed chunk of records.
func (o *offHeap) recChunk() []closedFlow {
	b := o.alloc(recChunkBytes)
	return unsafe.Slice((*closedFlow)(unsafe.Pointer(unsafe.SliceData(b))), 1<<recChunkBits)
}

func init() {
	// Memory outside the heap, and the heap's []byte, must not hold
	// pointers: the collector does not look there.
	if hasPointers(reflect.TypeFor[closedFlow]()) {
		panic("flows: closedFlow holds pointers, which its store's chunks cannot keep")
	}
}

// hasPointers reports whether a value of type t holds pointers.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}
