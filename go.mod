module github.com/herald-webhooks/herald

go 1.26.8

require github.com/standard-webhooks/standard-webhooks/libraries v0.0.1
