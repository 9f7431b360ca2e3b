package kumotest

import (
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Writes counts the DynamoDB items written (put, updated or deleted) by
// every client of every Env in this process since the start or the last
// ResetWrites: one per PutItem, UpdateItem and DeleteItem, one per item of
// a TransactWriteItems or BatchWriteItem. Benchmarks report what a sync
// costs in DynamoDB writes with it (a transaction's items cost twice the
// write units of plain writes; this counts items).
func Writes() int64 { return writes.Load() }

// ResetWrites sets the count of Writes to zero.
func ResetWrites() { writes.Store(0) }

var writes atomic.Int64

func countWrites(params any) {
	switch in := params.(type) {
	case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput:
		writes.Add(1)
	case *dynamodb.TransactWriteItemsInput:
		writes.Add(int64(len(in.TransactItems)))
	case *dynamodb.BatchWriteItemInput:
		for _, reqs := range in.RequestItems {
			writes.Add(int64(len(reqs)))
		}
	}
}
