package main

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"slices"
	"strconv"
)

// A headerBlock is a response's headers as C packs them (bridge.h: a
// packed list of key, value, key, value…), made into the values of a Go
// header map.  A call remembers the block of its last response.  A
// handler tends to answer with the same headers every time: once a block
// comes twice in a row, the call keeps the strings and slices it made of
// it, and the responses after reuse them instead of copying and
// allocating again.  A block unlike the last costs what it always did,
// plus a copy kept for the comparison: headers that change with every
// response (a Content-Length, an ETag) are never worth keeping.
//
// Sharing them is safe because nothing writes into them: net/http's
// HTTP/1 and HTTP/2 writers clone the handler's header map before they
// change it, and only read or clone its values, as with the Date of
// date.go.  Each slice's capacity is its length, so an append elsewhere
// copies.
type headerBlock struct {
	packed    []byte     // the last block as C packed it, copied; nil if none
	ready     bool       // keys and values are made of packed
	keys      []string   // each key once
	values    [][]string // values[i] are keys[i]'s
	hasDate   bool       // the last block sets Date,
	closing   bool       // says Connection: close first,
	hasAltSvc bool       // sets Alt-Svc,
	declared  int64      // its Content-Length, as net/http reads it, or -1
	// bareLength: the last block declares a Content-Length and neither
	// Transfer-Encoding nor Trailer, so that net/http, counting a body
	// itself, would send the same (call.go's writeHeaderAs).
	bareLength bool
}

// maxKeptBlock is the largest header block a call remembers.
const maxKeptBlock = 2048

// set puts the headers of block, which C owns, into h, which must be
// empty.
func (hb *headerBlock) set(h http.Header, block []byte) error {
	if hb.packed != nil && bytes.Equal(block, hb.packed) {
		if !hb.ready {
			if err := hb.make(block); err != nil {
				return err
			}
		}
		for i, key := range hb.keys {
			h[key] = hb.values[i]
		}
		return nil
	}
	// The kept strings are copies, not views of packed: its array may
	// take the new block.
	buf := hb.packed
	hb.packed, hb.ready = nil, false
	if err := unpackInto(h, block); err != nil {
		return err
	}
	_, hb.hasDate = h["Date"] // keys are canonical
	_, hb.hasAltSvc = h["Alt-Svc"]
	conn := h["Connection"]
	hb.closing = len(conn) > 0 && conn[0] == "close"
	hb.declared = declaredLength(h["Content-Length"])
	_, te := h["Transfer-Encoding"]
	_, trailer := h["Trailer"]
	hb.bareLength = hb.declared >= 0 && len(h["Content-Length"]) == 1 && !te && !trailer
	if len(block) <= maxKeptBlock {
		hb.packed = append(buf[:0], block...)
	}
	return nil
}

// unpackInto adds the headers of block, which C owns, to h.  Values of
// keys sent once share one backing array, as net/textproto reads request
// headers; a pair takes 8 bytes at least, so values never grows.
func unpackInto(h http.Header, block []byte) error {
	values := make([]string, 0, len(block)/8)
	return unpackPairs(block, func(key, value string) {
		if v, ok := h[key]; ok {
			h[key] = append(v, value)
			return
		}
		values = append(values, value)
		h[key] = values[len(values)-1 : len(values) : len(values)]
	})
}

// declaredLength reads the values of a Content-Length header as net/http
// does: a bad value is dropped, not sent, and gives -1, as does none.
func declaredLength(values []string) int64 {
	if len(values) > 0 {
		if v, err := strconv.ParseInt(values[0], 10, 64); err == nil && v >= 0 {
			return v
		}
	}
	return -1
}

// make makes the keys and values hb keeps of block, which C owns and
// which hb.packed holds a copy of.
func (hb *headerBlock) make(block []byte) error {
	// The value slices are new, made by unpackInto: responses before may
	// still hold the last ones.  hb's own lists are not shared.
	h := make(http.Header)
	if err := unpackInto(h, block); err != nil {
		hb.packed = nil
		return err
	}
	clear(hb.values)
	hb.keys, hb.values = hb.keys[:0], hb.values[:0]
	for key, values := range h {
		hb.keys = append(hb.keys, key)
		hb.values = append(hb.values, slices.Clip(values))
	}
	hb.ready = true
	return nil
}

// unpackPairs calls fn for each (key, value) pair of the packed list b,
// which C owns.  The strings share one copy of b: a response's headers
// cost one allocation, not one each.
func unpackPairs(b []byte, fn func(key, value string)) error {
	s := string(b)
	var key string
	for i, at := 0, 0; at < len(b); i++ {
		if len(b)-at < 4 {
			return errInvalid("malformed header block")
		}
		size := int(binary.NativeEndian.Uint32(b[at:]))
		at += 4
		if size > len(b)-at {
			return errInvalid("malformed header block")
		}
		if i%2 == 0 {
			key = s[at : at+size]
		} else {
			fn(key, s[at:at+size])
		}
		at += size
	}
	return nil
}
