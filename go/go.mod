module gohttp

go 1.24
