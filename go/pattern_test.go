package main

import (
	"reflect"
	"testing"
)

func TestWildcardNames(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"/", nil},
		{"/static/", nil},
		{"GET /items/{id}", []string{"id"}},
		{"POST example.com/a/{x}/b/{y}", []string{"x", "y"}},
		{"/{path...}", []string{"path"}},
		{"/exact/{$}", nil},
		{"GET /u/{name}/{rest...}", []string{"name", "rest"}},
	} {
		if got := wildcardNames(tc.pattern); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("wildcardNames(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}
