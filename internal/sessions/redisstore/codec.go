package redisstore

import (
	"errors"
	"math"
	"net/netip"
)

// The stored session's layout is declared once, in layout/layout.go;
// codec_gen.go (encodeRecord, decodeRecord) and lua/layout.lua (decode,
// encode) are generated from it. This file holds what they run on: the
// MessagePack forms, and how a time or an IP is stored.
//
// Only the msgpack forms cmsgpack writes are written (fixint and int/uint
// 8..64, fixstr and str8/16/32; never bin, which cmsgpack cannot read);
// reading also accepts bin and integral floats.
//
//go:generate go run ./layout/genlayout

// errMalformed reports a value that is not a session of this layout.
var errMalformed = errors.New("redisstore: malformed session value")

// sinceOrNever stores time t as ms after base, or -1 when t is 0 (never); t
// is never before base (see sessions.Record.AuthTime).
func sinceOrNever(t, base int64) int64 {
	if t == 0 {
		return -1
	}
	return t - base
}

// orNever reverses sinceOrNever.
func orNever(since, base int64) int64 {
	if since == -1 {
		return 0
	}
	return base + since
}

// ipBytes returns the bytes of a canonical IP ("" for none or one that does
// not parse, which the engine never stores).
func ipBytes(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return string(addr.AsSlice())
}

// ipText reverses ipBytes.
func ipText(b string) string {
	addr, ok := netip.AddrFromSlice([]byte(b))
	if !ok {
		return ""
	}
	return addr.String()
}

// packer appends MessagePack.
type packer struct{ b []byte }

func (p *packer) array(n int) {
	switch {
	case n < 16:
		p.b = append(p.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		p.b = append(p.b, 0xdc, byte(n>>8), byte(n))
	default:
		p.b = append(p.b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func (p *packer) int(v int64) {
	switch {
	case v >= 0 && v <= 127:
		p.b = append(p.b, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		p.b = append(p.b, 0xcc, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		p.b = append(p.b, 0xcd, byte(v>>8), byte(v))
	case v >= 0 && v <= math.MaxUint32:
		p.b = append(p.b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case v >= 0:
		p.b = append(p.b, 0xcf)
		p.be(uint64(v), 8)
	case v >= -32:
		p.b = append(p.b, byte(v))
	case v >= math.MinInt8:
		p.b = append(p.b, 0xd0, byte(v))
	case v >= math.MinInt16:
		p.b = append(p.b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		p.b = append(p.b, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		p.b = append(p.b, 0xd3)
		p.be(uint64(v), 8)
	}
}

func (p *packer) str(s string) {
	n := len(s)
	switch {
	case n < 32:
		p.b = append(p.b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		p.b = append(p.b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		p.b = append(p.b, 0xda, byte(n>>8), byte(n))
	default:
		p.b = append(p.b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	p.b = append(p.b, s...)
}

// be appends the n low bytes of v, big-endian.
func (p *packer) be(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		p.b = append(p.b, byte(v>>(8*i)))
	}
}

// unpacker reads MessagePack from b; after the first error, bad is set and
// every read returns a zero value.
type unpacker struct {
	b   string
	bad bool
}

// next returns the next n bytes.
func (u *unpacker) next(n int) string {
	if u.bad || n > len(u.b) {
		u.bad = true
		return ""
	}
	s := u.b[:n]
	u.b = u.b[n:]
	return s
}

// be reads an n-byte big-endian unsigned number.
func (u *unpacker) be(n int) uint64 {
	var v uint64
	for _, c := range []byte(u.next(n)) {
		v = v<<8 | uint64(c)
	}
	return v
}

func (u *unpacker) tag() byte {
	t := u.next(1)
	if t == "" {
		return 0xc1 // never used by MessagePack: an error
	}
	return t[0]
}

func (u *unpacker) array() int {
	switch t := u.tag(); {
	case t&0xf0 == 0x90:
		return int(t & 0x0f)
	case t == 0xdc:
		return int(u.be(2))
	case t == 0xdd:
		return int(u.be(4))
	}
	u.bad = true
	return 0
}

func (u *unpacker) int() int64 {
	switch t := u.tag(); {
	case t <= 0x7f:
		return int64(t)
	case t >= 0xe0:
		return int64(int8(t))
	case t >= 0xcc && t <= 0xcf:
		v := u.be(1 << (t - 0xcc))
		if v > math.MaxInt64 {
			u.bad = true
		}
		return int64(v)
	case t >= 0xd0 && t <= 0xd3:
		n := 1 << (t - 0xd0)
		v := u.be(n)
		shift := 64 - 8*n
		return int64(v<<shift) >> shift
	case t == 0xca, t == 0xcb:
		var f float64
		if t == 0xca {
			f = float64(math.Float32frombits(uint32(u.be(4))))
		} else {
			f = math.Float64frombits(u.be(8))
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			u.bad = true
		}
		return int64(f)
	}
	u.bad = true
	return 0
}

func (u *unpacker) str() string {
	var n uint64
	switch t := u.tag(); {
	case t&0xe0 == 0xa0:
		n = uint64(t & 0x1f)
	case t == 0xd9, t == 0xc4:
		n = u.be(1)
	case t == 0xda, t == 0xc5:
		n = u.be(2)
	case t == 0xdb, t == 0xc6:
		n = u.be(4)
	default:
		u.bad = true
		return ""
	}
	return u.next(int(n))
}
