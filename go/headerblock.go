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
// header map.  A call keeps the last block it made: a handler tends to
// answer with the same headers every time, and then the next response
// reuses the strings and slices of the last one instead of copying and
// allocating them again.
//
// Sharing them is safe because nothing writes into them: net/http's
// HTTP/1 and HTTP/2 writers clone the handler's header map before they
// change it, and only read or clone its values, as with the Date of
// date.go.  Each slice's capacity is its length, so an append elsewhere
// copies.
type headerBlock struct {
	packed   []byte     // the block as C packed it, copied; nil if none kept
	keys     []string   // each key once, in the order the block first names it
	values   [][]string // values[i] are keys[i]'s
	hasDate  bool       // the block sets Date
	declared int64      // its Content-Length, as net/http reads it, or -1
}

// maxKeptBlock is the largest header block a call keeps for its next
// response.
const maxKeptBlock = 2048

// set puts the headers of block, which C owns, into h, which must be
// empty.
func (hb *headerBlock) set(h http.Header, block []byte) error {
	if hb.packed == nil || !bytes.Equal(block, hb.packed) {
		if err := hb.make(block); err != nil {
			return err
		}
	}
	for i, key := range hb.keys {
		h[key] = hb.values[i]
	}
	return nil
}

// make makes hb from block, which C owns, and keeps a copy of block
// unless it is too long to.
func (hb *headerBlock) make(block []byte) error {
	// New arrays, not the last block's: responses before may still hold
	// those.  Values of keys sent once share one backing array, as
	// net/textproto reads request headers; a pair takes 8 bytes at least,
	// so values never grows.
	index := make(map[string]int)
	keys := make([]string, 0, len(block)/8)
	values := make([][]string, 0, len(block)/8)
	one := make([]string, 0, len(block)/8)
	err := unpackPairs(block, func(key, value string) {
		if i, ok := index[key]; ok {
			values[i] = append(values[i], value)
			return
		}
		index[key] = len(keys)
		keys = append(keys, key)
		one = append(one, value)
		values = append(values, one[len(one)-1:len(one):len(one)])
	})
	if err != nil {
		hb.packed = nil
		return err
	}
	for i := range values {
		values[i] = slices.Clip(values[i])
	}
	hb.keys, hb.values = keys, values
	_, hb.hasDate = index["Date"] // keys are canonical
	// As net/http reads it: a bad value is dropped, not sent.
	hb.declared = -1
	if i, ok := index["Content-Length"]; ok {
		if v, err := strconv.ParseInt(values[i][0], 10, 64); err == nil && v >= 0 {
			hb.declared = v
		}
	}
	hb.packed = nil
	if len(block) <= maxKeptBlock {
		hb.packed = append(make([]byte, 0, len(block)), block...)
	}
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
