module ndxp/bench/sseclient

go 1.21
