package main

import "strings"

// wildcardNames returns the names of the wildcards in a ServeMux pattern,
// in order: "GET /items/{id}/{rest...}" gives ["id", "rest"].  The
// end-of-path marker {$} is not a wildcard.  The pattern is assumed valid:
// the ServeMux checks it.
func wildcardNames(pattern string) []string {
	var names []string
	for {
		open := strings.IndexByte(pattern, '{')
		if open < 0 {
			return names
		}
		pattern = pattern[open+1:]
		end := strings.IndexByte(pattern, '}')
		if end < 0 {
			return names
		}
		name := strings.TrimSuffix(pattern[:end], "...")
		if name != "$" && name != "" {
			names = append(names, name)
		}
		pattern = pattern[end+1:]
	}
}
