module guessnet/goload

go 1.19
