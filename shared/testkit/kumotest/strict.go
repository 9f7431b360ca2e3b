package kumotest

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Strict DynamoDB: the Env's clients (Env.DynamoDB and every client made
// from Env.Config) refuse, before sending it, a request that DynamoDB —
// and DynamoDB Local, which LocalStack's DynamoDB runs on — rejects with a
// ValidationException but kumo accepts (checked against kumo: it answers
// each of these without an error):
//
//   - an ExpressionAttributeNames or ExpressionAttributeValues entry that no
//     expression of the request uses, or a #name or :value an expression
//     uses without defining it;
//   - a reserved word (ReservedWords below) as a bare attribute name in an
//     expression;
//   - ConsistentRead on a global secondary index (Query, Scan);
//   - an empty string or binary value for a key attribute of the table or
//     of one of its indexes (PutItem, BatchWriteItem, TransactWriteItems,
//     and UpdateItem's SET name = :value).
//
// So a test that passes on kumo does not fail on LocalStack or AWS for one
// of these reasons. The error is a smithy.APIError with code
// ValidationException and DynamoDB's message, as AWS would return it.

// ReservedWords are DynamoDB's reserved words
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html).
var ReservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(reservedWords) {
		m[w] = true
	}
	return m
}()

const reservedWords = `ABORT ABSOLUTE ACTION ADD AFTER AGENT AGGREGATE ALL ALLOCATE ALTER ANALYZE AND ANY ARCHIVE ARE ARRAY AS ASC ASCII
ASENSITIVE ASSERTION ASYMMETRIC AT ATOMIC ATTACH ATTRIBUTE AUTH AUTHORIZATION AUTHORIZE AUTO AVG BACK BACKUP BASE BATCH BEFORE
BEGIN BETWEEN BIGINT BINARY BIT BLOB BLOCK BOOLEAN BOTH BREADTH BUCKET BULK BY BYTE CALL CALLED CALLING CAPACITY CASCADE CASCADED
CASE CAST CATALOG CHAR CHARACTER CHECK CLASS CLOB CLOSE CLUSTER CLUSTERED CLUSTERING CLUSTERS COALESCE COLLATE COLLATION
COLLECTION COLUMN COLUMNS COMBINE COMMENT COMMIT COMPACT COMPILE COMPRESS CONDITION CONFLICT CONNECT CONNECTION CONSISTENCY
CONSISTENT CONSTRAINT CONSTRAINTS CONSTRUCTOR CONSUMED CONTINUE CONVERT COPY CORRESPONDING COUNT COUNTER CREATE CROSS CUBE
CURRENT CURSOR CYCLE DATA DATABASE DATE DATETIME DAY DEALLOCATE DEC DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DEFINE DEFINED
DEFINITION DELETE DELIMITED DEPTH DEREF DESC DESCRIBE DESCRIPTOR DETACH DETERMINISTIC DIAGNOSTICS DIRECTORIES DISABLE DISCONNECT
DISTINCT DISTRIBUTE DO DOMAIN DOUBLE DROP DUMP DURATION DYNAMIC EACH ELEMENT ELSE ELSEIF EMPTY ENABLE END EQUAL EQUALS ERROR
ESCAPE ESCAPED EVAL EVALUATE EXCEEDED EXCEPT EXCEPTION EXCEPTIONS EXCLUSIVE EXEC EXECUTE EXISTS EXIT EXPLAIN EXPLODE EXPORT
EXPRESSION EXTENDED EXTERNAL EXTRACT FAIL FALSE FAMILY FETCH FIELDS FILE FILTER FILTERING FINAL FINISH FIRST FIXED FLATTERN
FLOAT FOR FORCE FOREIGN FORMAT FORWARD FOUND FREE FROM FULL FUNCTION FUNCTIONS GENERAL GENERATE GET GLOB GLOBAL GO GOTO GRANT
GREATER GROUP GROUPING HANDLER HASH HAVE HAVING HEAP HIDDEN HOLD HOUR IDENTIFIED IDENTITY IF IGNORE IMMEDIATE IMPORT IN
INCLUDING INCLUSIVE INCREMENT INCREMENTAL INDEX INDEXED INDEXES INDICATOR INFINITE INITIALLY INLINE INNER INNTER INOUT INPUT
INSENSITIVE INSERT INSTEAD INT INTEGER INTERSECT INTERVAL INTO INVALIDATE IS ISOLATION ITEM ITEMS ITERATE JOIN KEY KEYS LAG
LANGUAGE LARGE LAST LATERAL LEAD LEADING LEAVE LEFT LENGTH LESS LEVEL LIKE LIMIT LIMITED LINES LIST LOAD LOCAL LOCALTIME
LOCALTIMESTAMP LOCATION LOCATOR LOCK LOCKS LOG LOGED LONG LOOP LOWER MAP MATCH MATERIALIZED MAX MAXLEN MEMBER MERGE METHOD
METRICS MIN MINUS MINUTE MISSING MOD MODE MODIFIES MODIFY MODULE MONTH MULTI MULTISET NAME NAMES NATIONAL NATURAL NCHAR NCLOB
NEW NEXT NO NONE NOT NULL NULLIF NUMBER NUMERIC OBJECT OF OFFLINE OFFSET OLD ON ONLINE ONLY OPAQUE OPEN OPERATOR OPTION OR ORDER
ORDINALITY OTHER OTHERS OUT OUTER OUTPUT OVER OVERLAPS OVERRIDE OWNER PAD PARALLEL PARAMETER PARAMETERS PARTIAL PARTITION
PARTITIONED PARTITIONS PATH PERCENT PERCENTILE PERMISSION PERMISSIONS PIPE PIPELINED PLAN POOL POSITION PRECISION PREPARE
PRESERVE PRIMARY PRIOR PRIVATE PRIVILEGES PROCEDURE PROCESSED PROJECT PROJECTION PROPERTY PROVISIONING PUBLIC PUT QUERY QUIT
QUORUM RAISE RANDOM RANGE RANK RAW READ READS REAL REBUILD RECORD RECURSIVE REDUCE REF REFERENCE REFERENCES REFERENCING REGEXP
REGION REINDEX RELATIVE RELEASE REMAINDER RENAME REPEAT REPLACE REQUEST RESET RESIGNAL RESOURCE RESPONSE RESTORE RESTRICT RESULT
RETURN RETURNING RETURNS REVERSE REVOKE RIGHT ROLE ROLES ROLLBACK ROLLUP ROUTINE ROW ROWS RULE RULES SAMPLE SATISFIES SAVE
SAVEPOINT SCAN SCHEMA SCOPE SCROLL SEARCH SECOND SECTION SEGMENT SEGMENTS SELECT SELF SEMI SENSITIVE SEPARATE SEQUENCE
SERIALIZABLE SESSION SET SETS SHARD SHARE SHARED SHORT SHOW SIGNAL SIMILAR SIZE SKEWED SMALLINT SNAPSHOT SOME SOURCE SPACE
SPACES SPARSE SPECIFIC SPECIFICTYPE SPLIT SQL SQLCODE SQLERROR SQLEXCEPTION SQLSTATE SQLWARNING START STATE STATIC STATUS
STORAGE STORE STORED STREAM STRING STRUCT STYLE SUB SUBMULTISET SUBPARTITION SUBSTRING SUBTYPE SUM SUPER SYMMETRIC SYNONYM
SYSTEM TABLE TABLESAMPLE TEMP TEMPORARY TERMINATED TEXT THAN THEN THROUGHPUT TIME TIMESTAMP TIMEZONE TINYINT TO TOKEN TOTAL
TOUCH TRAILING TRANSACTION TRANSFORM TRANSLATE TRANSLATION TREAT TRIGGER TRIM TRUE TRUNCATE TTL TUPLE TYPE UNDER UNDO UNION
UNIQUE UNIT UNKNOWN UNLOGGED UNNEST UNPROCESSED UNSIGNED UNTIL UPDATE UPPER URL USAGE USE USER USERS USING UUID VACUUM VALUE
VALUED VALUES VARCHAR VARIABLE VARIANCE VARINT VARYING VIEW VIEWS VIRTUAL VOID WAIT WHEN WHENEVER WHERE WHILE WINDOW WITH
WITHIN WITHOUT WORK WRAPPED WRITE YEAR ZONE`

// Words of the expression grammar: operators, update-clause keywords and
// functions, which are not attribute names where they appear.
var grammarWords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "BETWEEN": true, "IN": true,
	"SET": true, "REMOVE": true, "ADD": true, "DELETE": true,
}

var expressionFunctions = map[string]bool{
	"attribute_exists": true, "attribute_not_exists": true, "attribute_type": true, "begins_with": true,
	"contains": true, "size": true, "if_not_exists": true, "list_append": true,
}

// strictDynamoDB is an API option that adds the check to every DynamoDB
// operation; describe reads a table's description (with a client without
// the check).
func strictDynamoDB(describe func(ctx context.Context, table string) (*types.TableDescription, error)) func(*middleware.Stack) error {
	tables := &tableCache{describe: describe, tables: map[string]*tableInfo{}}
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("kumotest.StrictDynamoDB",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				countWrites(in.Parameters)
				if err := checkDynamoDB(ctx, in.Parameters, tables); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// tableInfo is what the checks need of a table.
type tableInfo struct {
	keys   map[string]string // key attribute → "" for the table's keys, else the index it keys
	global map[string]bool   // the names of its global secondary indexes
}

// tableCache describes each table once (names are unique per test).
type tableCache struct {
	describe func(ctx context.Context, table string) (*types.TableDescription, error)
	mu       sync.Mutex
	tables   map[string]*tableInfo
}

func (c *tableCache) get(ctx context.Context, table string) *tableInfo {
	c.mu.Lock()
	info, ok := c.tables[table]
	c.mu.Unlock()
	if ok {
		return info
	}
	desc, err := c.describe(ctx, table)
	if err != nil {
		// No table (yet): the request itself says what is wrong; an empty
		// info checks nothing table-specific.
		return &tableInfo{}
	}
	info = describeTable(desc)
	c.mu.Lock()
	c.tables[table] = info
	c.mu.Unlock()
	return info
}

func describeTable(t *types.TableDescription) *tableInfo {
	info := &tableInfo{keys: map[string]string{}, global: map[string]bool{}}
	if t == nil {
		return info
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		info.global[aws.ToString(ix.IndexName)] = true
		for _, k := range ix.KeySchema {
			info.keys[aws.ToString(k.AttributeName)] = aws.ToString(ix.IndexName)
		}
	}
	for _, ix := range t.LocalSecondaryIndexes {
		for _, k := range ix.KeySchema {
			info.keys[aws.ToString(k.AttributeName)] = aws.ToString(ix.IndexName)
		}
	}
	for _, k := range t.KeySchema {
		info.keys[aws.ToString(k.AttributeName)] = ""
	}
	return info
}

func validationError(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// exprSet is the expressions of one request (or one item of a
// transaction) with the names and values they share.
type exprSet struct {
	exprs  map[string]*string // kind (e.g. "KeyConditionExpression") → expression
	names  map[string]string
	values map[string]types.AttributeValue
}

func checkDynamoDB(ctx context.Context, params any, tables *tableCache) error {
	switch in := params.(type) {
	case *dynamodb.QueryInput:
		if in.IndexName != nil && aws.ToBool(in.ConsistentRead) && tables.get(ctx, aws.ToString(in.TableName)).global[aws.ToString(in.IndexName)] {
			return validationError("Consistent reads are not supported on global secondary indexes")
		}
		return exprSet{map[string]*string{"KeyConditionExpression": in.KeyConditionExpression, "FilterExpression": in.FilterExpression,
			"ProjectionExpression": in.ProjectionExpression}, in.ExpressionAttributeNames, in.ExpressionAttributeValues}.check()
	case *dynamodb.ScanInput:
		if in.IndexName != nil && aws.ToBool(in.ConsistentRead) && tables.get(ctx, aws.ToString(in.TableName)).global[aws.ToString(in.IndexName)] {
			return validationError("Consistent reads are not supported on global secondary indexes")
		}
		return exprSet{map[string]*string{"FilterExpression": in.FilterExpression, "ProjectionExpression": in.ProjectionExpression},
			in.ExpressionAttributeNames, in.ExpressionAttributeValues}.check()
	case *dynamodb.GetItemInput:
		return exprSet{map[string]*string{"ProjectionExpression": in.ProjectionExpression}, in.ExpressionAttributeNames, nil}.check()
	case *dynamodb.PutItemInput:
		if err := checkKeys(tables.get(ctx, aws.ToString(in.TableName)).keys, in.Item); err != nil {
			return err
		}
		return exprSet{map[string]*string{"ConditionExpression": in.ConditionExpression}, in.ExpressionAttributeNames, in.ExpressionAttributeValues}.check()
	case *dynamodb.DeleteItemInput:
		return exprSet{map[string]*string{"ConditionExpression": in.ConditionExpression}, in.ExpressionAttributeNames, in.ExpressionAttributeValues}.check()
	case *dynamodb.UpdateItemInput:
		return checkUpdate(tables.get(ctx, aws.ToString(in.TableName)).keys, in.UpdateExpression, in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	case *dynamodb.BatchGetItemInput:
		for _, ka := range in.RequestItems {
			if err := (exprSet{map[string]*string{"ProjectionExpression": ka.ProjectionExpression}, ka.ExpressionAttributeNames, nil}).check(); err != nil {
				return err
			}
		}
	case *dynamodb.BatchWriteItemInput:
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				if r.PutRequest != nil {
					if err := checkKeys(tables.get(ctx, table).keys, r.PutRequest.Item); err != nil {
						return err
					}
				}
			}
		}
	case *dynamodb.TransactGetItemsInput:
		for _, it := range in.TransactItems {
			if g := it.Get; g != nil {
				if err := (exprSet{map[string]*string{"ProjectionExpression": g.ProjectionExpression}, g.ExpressionAttributeNames, nil}).check(); err != nil {
					return err
				}
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			var err error
			switch {
			case it.ConditionCheck != nil:
				c := it.ConditionCheck
				err = exprSet{map[string]*string{"ConditionExpression": c.ConditionExpression}, c.ExpressionAttributeNames, c.ExpressionAttributeValues}.check()
			case it.Put != nil:
				p := it.Put
				if err = checkKeys(tables.get(ctx, aws.ToString(p.TableName)).keys, p.Item); err == nil {
					err = exprSet{map[string]*string{"ConditionExpression": p.ConditionExpression}, p.ExpressionAttributeNames, p.ExpressionAttributeValues}.check()
				}
			case it.Delete != nil:
				d := it.Delete
				err = exprSet{map[string]*string{"ConditionExpression": d.ConditionExpression}, d.ExpressionAttributeNames, d.ExpressionAttributeValues}.check()
			case it.Update != nil:
				u := it.Update
				err = checkUpdate(tables.get(ctx, aws.ToString(u.TableName)).keys, u.UpdateExpression, u.ConditionExpression, u.ExpressionAttributeNames, u.ExpressionAttributeValues)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

var setAssignment = regexp.MustCompile(`^\s*(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)\s*$`)

func checkUpdate(keys map[string]string, update, cond *string, names map[string]string, values map[string]types.AttributeValue) error {
	if err := (exprSet{map[string]*string{"UpdateExpression": update, "ConditionExpression": cond}, names, values}).check(); err != nil {
		return err
	}
	// SET name = :value of a key attribute (the table's keys cannot be
	// updated at all; DynamoDB says so itself, kumo too).
	for _, assignment := range setAssignments(aws.ToString(update)) {
		m := setAssignment.FindStringSubmatch(assignment)
		if m == nil {
			continue
		}
		attr := m[1]
		if strings.HasPrefix(attr, "#") {
			attr = names[attr]
		}
		if err := checkKeys(keys, map[string]types.AttributeValue{attr: values[m[2]]}); err != nil {
			return err
		}
	}
	return nil
}

// setAssignments splits the SET clause of an update expression at its
// top-level commas.
func setAssignments(update string) []string {
	toks := clauseSplit.FindAllStringIndex(update, -1)
	var out []string
	for i, t := range toks {
		if !strings.EqualFold(strings.TrimSpace(update[t[0]:t[1]]), "SET") {
			continue
		}
		end := len(update)
		if i+1 < len(toks) {
			end = toks[i+1][0]
		}
		depth, start := 0, t[1]
		body := update[:end]
		for j := t[1]; j < end; j++ {
			switch body[j] {
			case '(':
				depth++
			case ')':
				depth--
			case ',':
				if depth == 0 {
					out = append(out, body[start:j])
					start = j + 1
				}
			}
		}
		out = append(out, body[start:end])
	}
	return out
}

var clauseSplit = regexp.MustCompile(`(?i)(^|\s)(SET|REMOVE|ADD|DELETE)\s`)

// checkKeys refuses empty string or binary values of key attributes.
func checkKeys(keys map[string]string, item map[string]types.AttributeValue) error {
	attrs := make([]string, 0, len(item))
	for a := range item {
		attrs = append(attrs, a)
	}
	sort.Strings(attrs)
	for _, attr := range attrs {
		index, isKey := keys[attr]
		if !isKey {
			continue
		}
		empty := false
		switch v := item[attr].(type) {
		case *types.AttributeValueMemberS:
			empty = v.Value == ""
		case *types.AttributeValueMemberB:
			empty = len(v.Value) == 0
		}
		if !empty {
			continue
		}
		if index == "" {
			return validationError("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", attr)
		}
		return validationError("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: %s, IndexKey: %s", index, attr)
	}
	return nil
}

var exprToken = regexp.MustCompile(`[#:][A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*`)

// check applies the expression rules to one request's expressions.
func (s exprSet) check() error {
	usedNames, usedValues := map[string]bool{}, map[string]bool{}
	kinds := make([]string, 0, len(s.exprs))
	for k := range s.exprs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		e := s.exprs[kind]
		if e == nil {
			continue
		}
		expr := *e
		for _, loc := range exprToken.FindAllStringIndex(expr, -1) {
			tok := expr[loc[0]:loc[1]]
			switch tok[0] {
			case '#':
				if _, ok := s.names[tok]; !ok {
					return validationError("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", kind, tok)
				}
				usedNames[tok] = true
			case ':':
				if _, ok := s.values[tok]; !ok {
					return validationError("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", kind, tok)
				}
				usedValues[tok] = true
			default:
				up := strings.ToUpper(tok)
				if grammarWords[up] || (expressionFunctions[tok] && strings.HasPrefix(strings.TrimLeft(expr[loc[1]:], " \t\n"), "(")) {
					continue
				}
				if ReservedWords[up] {
					return validationError("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", kind, tok)
				}
			}
		}
	}
	if unused := unusedKeys(s.values, usedValues); unused != "" {
		return validationError("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", unused)
	}
	if unused := unusedKeys(s.names, usedNames); unused != "" {
		return validationError("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", unused)
	}
	return nil
}

func unusedKeys[V any](m map[string]V, used map[string]bool) string {
	var out []string
	for k := range m {
		if !used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
