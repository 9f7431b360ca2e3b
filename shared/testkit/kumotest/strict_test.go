package kumotest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// storeTable is the key schema store.CreateTable makes.
var storeTable = &types.TableDescription{
	KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk")}, {AttributeName: aws.String("sk")}},
	GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
		{IndexName: aws.String("gsi1"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("gsi1pk")}, {AttributeName: aws.String("gsi1sk")}}},
	},
}

func TestStrictDynamoDBRules(t *testing.T) {
	tables := &tableCache{describe: func(context.Context, string) (*types.TableDescription, error) { return storeTable, nil },
		tables: map[string]*tableInfo{}}
	tbl := aws.String("t")
	for _, c := range []struct {
		name string
		in   any
		want string // "" = accepted
	}{
		{"query ok", &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("a"), ":p": s("b")}}, ""},
		{"unused value", &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("a"), ":x": s("b")}},
			"Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"},
		{"unused name", &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeNames: map[string]string{"#n": "x"}, ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("a")}},
			"Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}"},
		{"undefined value", &dynamodb.DeleteItemInput{TableName: tbl, ConditionExpression: aws.String("v = :v")},
			"attribute value used in expression is not defined; attribute value: :v"},
		{"undefined name", &dynamodb.GetItemInput{TableName: tbl, ProjectionExpression: aws.String("#a, b")},
			"attribute name used in the document path is not defined; attribute name: #a"},
		{"reserved word", &dynamodb.UpdateItemInput{TableName: tbl, UpdateExpression: aws.String("SET status = :s"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": s("x")}},
			"Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"},
		{"reserved word through a name", &dynamodb.UpdateItemInput{TableName: tbl, UpdateExpression: aws.String("SET #status = :s ADD version :one REMOVE expires_at"),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": s("x"), ":one": &types.AttributeValueMemberN{Value: "1"}}}, ""},
		{"functions and operators", &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{"pk": s("a"), "sk": s("b")},
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR (NOT contains(tags, :t) AND size(tags) BETWEEN :a AND :b) OR x IN (:a, :b)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": s("x"), ":a": s("1"), ":b": s("2")}}, ""},
		{"size as an attribute", &dynamodb.ScanInput{TableName: tbl, ProjectionExpression: aws.String("size")},
			"reserved keyword: size"},
		{"consistent read on a GSI", &dynamodb.QueryInput{TableName: tbl, IndexName: aws.String("gsi1"), ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String("gsi1pk = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("a")}},
			"Consistent reads are not supported on global secondary indexes"},
		{"empty table key", &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{"pk": s("a"), "sk": s("")}},
			"cannot contain an empty string value. Key: sk"},
		{"empty index key", &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{"pk": s("a"), "sk": s("b"), "gsi1pk": s("")}},
			"IndexName: gsi1, IndexKey: gsi1pk"},
		{"empty non-key", &dynamodb.PutItemInput{TableName: tbl, Item: map[string]types.AttributeValue{"pk": s("a"), "sk": s("b"), "note": s("")}}, ""},
		{"empty index key set by update", &dynamodb.UpdateItemInput{TableName: tbl, UpdateExpression: aws.String("SET a = :a, #g = :g"),
			ExpressionAttributeNames:  map[string]string{"#g": "gsi1sk"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": s("x"), ":g": s("")}},
			"IndexName: gsi1, IndexKey: gsi1sk"},
		{"transaction item", &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{ConditionCheck: &types.ConditionCheck{TableName: tbl, ConditionExpression: aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":unused": s("x")}}}}},
			"unused in expressions: keys: {:unused}"},
		{"batch write", &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"t": {
			{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"pk": s(""), "sk": s("b")}}}}}},
			"Key: pk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkDynamoDB(context.Background(), c.in, tables)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" || !strings.Contains(apiErr.ErrorMessage(), c.want) {
				t.Fatalf("got %v, want a ValidationException with %q", err, c.want)
			}
		})
	}
}

// TestStrictDynamoDBOnTheEmulator: the Env's client refuses what kumo
// would accept, and store tables are described for the key checks.
func TestStrictDynamoDBOnTheEmulator(t *testing.T) {
	env := Get(t)
	table := env.NewTable(t)
	ctx := context.Background()
	_, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
		Item: map[string]types.AttributeValue{"pk": s("a"), "sk": s("b"), "gsi1pk": s(""), "gsi1sk": s("x")}})
	if err == nil || !strings.Contains(err.Error(), "IndexKey: gsi1pk") {
		t.Fatalf("empty index key: %v", err)
	}
	_, err = env.DynamoDB.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String("gsi1"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("gsi1pk = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("a")}})
	if err == nil || !strings.Contains(err.Error(), "Consistent reads are not supported") {
		t.Fatalf("consistent read on a GSI: %v", err)
	}
	if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
		Item: map[string]types.AttributeValue{"pk": s("a"), "sk": s("b"), "gsi1pk": s("g"), "gsi1sk": s("x")}}); err != nil {
		t.Fatal(err)
	}
}
