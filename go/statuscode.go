package main

// The rules about status codes that C shares, in Go: bridge.h defines
// them for C (gohttp_code_is_final, gohttp_code_allows_body).  Go keeps
// twins rather than calling those, because a cgo call costs more than
// the rule; statuscode_test.go checks that the twins agree with C on
// every code.

/*
#include "bridge.h"
*/
import "C"

import "net/http"

// codeIsFinal reports whether a status code starts the response: a final
// status, or 101 Switching Protocols.  Other 1xx codes are informational.
func codeIsFinal(code int) bool {
	return code >= 200 || code == http.StatusSwitchingProtocols
}

// codeAllowsBody reports whether a response with status code may have a
// body, as net/http decides: not 1xx, 204 or 304.
func codeAllowsBody(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// cCodeIsFinal and cCodeAllowsBody ask bridge.h's rules, for the test
// (a _test.go file cannot use cgo).
func cCodeIsFinal(code int) bool    { return C.gohttp_code_is_final(C.int(code)) != 0 }
func cCodeAllowsBody(code int) bool { return C.gohttp_code_allows_body(C.int(code)) != 0 }
