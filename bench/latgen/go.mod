module latgen

go 1.24
