module gohello

go 1.24
