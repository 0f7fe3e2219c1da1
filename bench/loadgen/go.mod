module ndxp/bench/loadgen

go 1.21
