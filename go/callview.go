package main

/*
#include "bridge.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
)

// A requestView is a packed request as C reads it (bridge.h): the fields
// by their spans, the headers and path values by walking header_count and
// path_value_count items the way ext/module.h's gohttp_next_item does,
// but checking every length, which C trusts.  It is the seam that tests
// the packing without C (call_fuzz_test.go).
type requestView struct {
	method, url, path, query, host, proto, remoteAddr, scheme string

	headers, pathValues [][2]string
	contentLength       int64
}

// view reads c.req and c.data as C would.
func (c *call) view() (requestView, error) {
	var v requestView
	field := func(f int) (string, error) {
		s := c.req.field[f]
		if uint64(s.off)+uint64(s.len) > uint64(len(c.data)) {
			return "", errors.New("a span past the end of the block")
		}
		return string(c.data[s.off : s.off+s.len]), nil
	}
	var err error
	for f, dst := range map[int]*string{C.GOHTTP_F_METHOD: &v.method, C.GOHTTP_F_URL: &v.url,
		C.GOHTTP_F_PATH: &v.path, C.GOHTTP_F_QUERY: &v.query, C.GOHTTP_F_HOST: &v.host,
		C.GOHTTP_F_PROTO: &v.proto, C.GOHTTP_F_REMOTE_ADDR: &v.remoteAddr, C.GOHTTP_F_SCHEME: &v.scheme} {
		if *dst, err = field(f); err != nil {
			return v, err
		}
	}
	pairs := func(f int, count C.uint32_t) ([][2]string, error) {
		b, err := field(f)
		if err != nil {
			return nil, err
		}
		var out [][2]string
		for range count {
			var pair [2]string
			for i := range pair {
				if len(b) < 4 {
					return nil, errors.New("an item's length past the end of its span")
				}
				n := binary.NativeEndian.Uint32([]byte(b))
				if uint64(n) > uint64(len(b)-4) {
					return nil, errors.New("an item past the end of its span")
				}
				pair[i], b = b[4:4+n], b[4+n:]
			}
			out = append(out, pair)
		}
		if b != "" {
			return nil, errors.New("bytes left in the span after its count of pairs")
		}
		return out, nil
	}
	if v.headers, err = pairs(C.GOHTTP_F_HEADERS, c.req.header_count); err != nil {
		return v, err
	}
	if v.pathValues, err = pairs(C.GOHTTP_F_PATH_VALUES, c.req.path_value_count); err != nil {
		return v, err
	}
	v.contentLength = int64(c.req.content_length)
	return v, nil
}
