module c10k/peers/go

go 1.19
