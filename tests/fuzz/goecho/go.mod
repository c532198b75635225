module gohttp.test/goecho

go 1.24
