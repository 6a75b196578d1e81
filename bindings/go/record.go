package lnc

/*
#include "lnc.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// RecordType is a TLV record type byte (LNC_RECORD_*). Types 0x80–0xFE are user-defined.
type RecordType uint8

// Record types.
const (
	TypeRawChunk       RecordType = C.LNC_RECORD_RAW_CHUNK       // undecoded log bytes (consume.raw=true)
	TypeRaw            RecordType = C.LNC_RECORD_RAW             // raw bytes
	TypeJSON           RecordType = C.LNC_RECORD_JSON            // JSON text
	TypeMsgPack        RecordType = C.LNC_RECORD_MSGPACK         // MessagePack
	TypeProtobuf       RecordType = C.LNC_RECORD_PROTOBUF        // Protobuf
	TypeAvro           RecordType = C.LNC_RECORD_AVRO            // Avro
	TypeKeyValue       RecordType = C.LNC_RECORD_KEY_VALUE       // key-value
	TypeTimestamped    RecordType = C.LNC_RECORD_TIMESTAMPED     // timestamped
	TypeKeyTimestamped RecordType = C.LNC_RECORD_KEY_TIMESTAMPED // key-timestamped
	TypeUserFirst      RecordType = 0x80                         // first user-defined type
	TypeUserLast       RecordType = 0xFE                         // last user-defined type
	TypeExtended       RecordType = C.LNC_RECORD_EXTENDED        // extended record (see Record.ExtType)
)

// ExtTombstone is the extended type of a tombstone (null) record.
const ExtTombstone uint16 = C.LNC_EXT_TOMBSTONE

// String returns a readable name of the type.
func (t RecordType) String() string {
	switch t {
	case TypeRawChunk:
		return "raw-chunk"
	case TypeRaw:
		return "raw"
	case TypeJSON:
		return "json"
	case TypeMsgPack:
		return "msgpack"
	case TypeProtobuf:
		return "protobuf"
	case TypeAvro:
		return "avro"
	case TypeKeyValue:
		return "key-value"
	case TypeTimestamped:
		return "timestamped"
	case TypeKeyTimestamped:
		return "key-timestamped"
	case TypeExtended:
		return "extended"
	}
	if t >= TypeUserFirst && t <= TypeUserLast {
		return fmt.Sprintf("user(0x%02x)", uint8(t))
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Record is one record to produce or one consumed record.
//
// To produce, set Type (0 means raw: a raw record given a Key becomes key-value, given a
// Timestamp timestamped, given both key-timestamped), Value, and what applies: Key (nil = no
// key; a non-nil empty slice is an empty key), Timestamp (ns since the Unix epoch, 0 = none or
// "now" for timestamped types), ExtType for TypeExtended. liblnc validates the combination.
// The byte slices are only read during the Produce call.
//
// Consumed records own their bytes (copied out of liblnc's memory).
type Record struct {
	// Type is the record type byte.
	Type RecordType
	// HasExtType reports whether ExtType is meaningful (consumed records).
	HasExtType bool
	// HasTimestamp reports whether Timestamp is meaningful (consumed records).
	HasTimestamp bool
	// ExtType is the extended type (TypeExtended only; HasExtType on consumed records).
	ExtType uint16
	// Key is the key (key-value types); nil when the record has none.
	Key []byte
	// Value is the application payload (after any key/timestamp prefix).
	Value []byte
	// Timestamp is nanoseconds since the Unix epoch (timestamped types); 0 = none / now.
	Timestamp uint64
	// Offset is the byte offset of the record in the topic log (consumed records; records of
	// one compression envelope share it).
	Offset uint64
	// Raw is the whole TLV value as stored, prefixes included (consumed records; Key and Value
	// alias it when they lie inside it).
	Raw []byte

	// Opaque is returned in this record's Report (producer only). Leave nil on the hot path.
	Opaque any
}

// Clone returns a copy of r whose byte slices are owned (use it to keep a record borrowed by
// PollFunc beyond the callback).
func (r *Record) Clone() Record {
	c := *r
	c.Raw = append([]byte(nil), r.Raw...)
	c.Value = reslice(r.Raw, c.Raw, r.Value)
	if r.Key != nil {
		c.Key = reslice(r.Raw, c.Raw, r.Key)
	}
	return c
}

// reslice maps part (a sub-slice of oldRaw, or not) onto newRaw, else copies it.
func reslice(oldRaw, newRaw, part []byte) []byte {
	if len(part) == 0 {
		return []byte{}
	}
	if len(oldRaw) > 0 {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(oldRaw)))
		p := uintptr(unsafe.Pointer(unsafe.SliceData(part)))
		if p >= base && p+uintptr(len(part)) <= base+uintptr(len(oldRaw)) {
			off := int(p - base)
			return newRaw[off : off+len(part) : off+len(part)]
		}
	}
	return append([]byte(nil), part...)
}

// Time returns Timestamp as a time.Time (the zero Time when there is none).
func (r *Record) Time() time.Time {
	if r.Timestamp == 0 && !r.HasTimestamp {
		return time.Time{}
	}
	return time.Unix(0, int64(r.Timestamp))
}

// IsTombstone reports whether the record is a tombstone (extended type 0x00FF).
func (r *Record) IsTombstone() bool {
	return r.Type == TypeExtended && r.ExtType == ExtTombstone
}

// RawRecord is a raw-bytes record.
func RawRecord(value []byte) Record { return Record{Type: TypeRaw, Value: value} }

// JSONRecord is a JSON record (value is UTF-8 JSON text).
func JSONRecord(value []byte) Record { return Record{Type: TypeJSON, Value: value} }

// MsgPackRecord is a MessagePack record.
func MsgPackRecord(value []byte) Record { return Record{Type: TypeMsgPack, Value: value} }

// ProtobufRecord is a Protobuf record.
func ProtobufRecord(value []byte) Record { return Record{Type: TypeProtobuf, Value: value} }

// AvroRecord is an Avro record.
func AvroRecord(value []byte) Record { return Record{Type: TypeAvro, Value: value} }

// KeyValueRecord is a key-value record (keys are at most 65,535 bytes).
func KeyValueRecord(key, value []byte) Record {
	if key == nil {
		key = []byte{}
	}
	return Record{Type: TypeKeyValue, Key: key, Value: value}
}

// TimestampedRecord is a timestamped record; a zero ts means "now" (set by liblnc).
func TimestampedRecord(ts time.Time, value []byte) Record {
	return Record{Type: TypeTimestamped, Timestamp: unixNano(ts), Value: value}
}

// KeyTimestampedRecord is a key-timestamped record; a zero ts means "now".
func KeyTimestampedRecord(ts time.Time, key, value []byte) Record {
	if key == nil {
		key = []byte{}
	}
	return Record{Type: TypeKeyTimestamped, Timestamp: unixNano(ts), Key: key, Value: value}
}

// UserRecord is a record of a user-defined type (0x80–0xFE).
func UserRecord(t RecordType, value []byte) Record { return Record{Type: t, Value: value} }

// ExtendedRecord is an extended record of the given extended type.
func ExtendedRecord(ext uint16, value []byte) Record {
	return Record{Type: TypeExtended, ExtType: ext, Value: value}
}

// TombstoneRecord is a tombstone (null) record: extended type 0x00FF, no value.
func TombstoneRecord() Record { return Record{Type: TypeExtended, ExtType: ExtTombstone} }

func unixNano(ts time.Time) uint64 {
	if ts.IsZero() {
		return 0
	}
	return uint64(ts.UnixNano())
}

// bytesPtr returns a pointer for a borrowed (ptr, len) argument: NULL for a nil slice, a valid
// pointer for an empty non-nil one.
func bytesPtr(b []byte) *C.uint8_t {
	if b == nil {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// copyRecords copies a contiguous array of views out of C memory into Go records sharing one
// allocation for their bytes.
func copyRecords(views *C.lnc_record_view_t, n int) []Record {
	if n == 0 || views == nil {
		return nil
	}
	vs := unsafe.Slice(views, n)
	total := 0
	for i := range vs {
		total += int(vs[i].value_len)
		if !within(&vs[i], vs[i].key, vs[i].key_len) {
			total += int(vs[i].key_len)
		}
		if !within(&vs[i], vs[i].data, vs[i].data_len) {
			total += int(vs[i].data_len)
		}
	}
	arena := make([]byte, 0, total)
	out := make([]Record, n)
	for i := range vs {
		v := &vs[i]
		r := &out[i]
		r.Type = RecordType(v.record_type)
		r.HasExtType = v.has_ext_type != 0
		r.ExtType = uint16(v.ext_type)
		r.Offset = uint64(v.offset)
		r.HasTimestamp = v.has_timestamp != 0
		r.Timestamp = uint64(v.timestamp_ns)
		start := len(arena)
		arena = append(arena, cbytes(v.value, v.value_len)...)
		r.Raw = arena[start:len(arena):len(arena)]
		r.Value = sub(v, r.Raw, v.data, v.data_len, &arena)
		if v.has_key != 0 {
			r.Key = sub(v, r.Raw, v.key, v.key_len, &arena)
			if r.Key == nil {
				r.Key = []byte{}
			}
		}
	}
	return out
}

// within reports whether (p, n) lies inside the view's value bytes.
func within(v *C.lnc_record_view_t, p *C.uint8_t, n C.size_t) bool {
	if p == nil || n == 0 {
		return true
	}
	base := uintptr(unsafe.Pointer(v.value))
	q := uintptr(unsafe.Pointer(p))
	return v.value != nil && q >= base && q+uintptr(n) <= base+uintptr(v.value_len)
}

// sub returns (p, n) as a slice of raw when it lies inside the value, else a fresh copy.
func sub(v *C.lnc_record_view_t, raw []byte, p *C.uint8_t, n C.size_t, arena *[]byte) []byte {
	if n == 0 {
		return []byte{}
	}
	if within(v, p, n) {
		off := int(uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(v.value)))
		return raw[off : off+int(n) : off+int(n)]
	}
	start := len(*arena)
	*arena = append(*arena, cbytes(p, n)...)
	return (*arena)[start:len(*arena):len(*arena)]
}

// cbytes views C memory as a byte slice (to copy from immediately).
func cbytes(p *C.uint8_t, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// borrowRecord fills r with a view's fields whose byte slices alias liblnc's memory (valid
// until the batch is freed).
func borrowRecord(v *C.lnc_record_view_t, r *Record) {
	r.Type = RecordType(v.record_type)
	r.HasExtType = v.has_ext_type != 0
	r.ExtType = uint16(v.ext_type)
	r.Offset = uint64(v.offset)
	r.HasTimestamp = v.has_timestamp != 0
	r.Timestamp = uint64(v.timestamp_ns)
	r.Raw = cview(v.value, v.value_len)
	r.Value = cview(v.data, v.data_len)
	r.Key = nil
	if v.has_key != 0 {
		r.Key = cview(v.key, v.key_len)
	}
}

var emptyBytes = []byte{}

// cview is (p, n) as a slice of C memory; a non-nil empty slice when n == 0.
func cview(p *C.uint8_t, n C.size_t) []byte {
	if p == nil || n == 0 {
		return emptyBytes[:0:0]
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}
