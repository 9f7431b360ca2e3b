// The API's field limits, enums and defaults, read from shared/api/openapi.json
// into limits.gen.ts (npm run gen:api; npm test fails when it is stale). The
// console validates with these instead of copies, so a limit changed in the
// document changes the console with it. The types below tie every generated
// entry to schema.d.ts: a property or parameter the generated types do not
// have, or an enum or default outside the property's type, does not compile.
import type { components, operations } from "./schema";

export { queryLimits, schemaLimits } from "./limits.gen";

type Value<T> = T extends readonly (infer I)[] ? readonly Value<I>[] : T;

/** The JSON Schema keywords of one property or parameter that the generator keeps. */
export interface Limit<T> {
  readonly enum?: readonly T[];
  readonly default?: Value<T>;
  readonly minimum?: number;
  readonly exclusiveMinimum?: number;
  readonly maximum?: number;
  readonly exclusiveMaximum?: number;
  readonly multipleOf?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
  readonly items?: Limit<T extends readonly (infer I)[] ? I : never>;
}

type Schemas = components["schemas"];

export type SchemaLimits = {
  readonly [S in keyof Schemas]?: { readonly [P in keyof Schemas[S]]?: Limit<NonNullable<Schemas[S][P]>> };
};

type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

export type QueryLimits = {
  readonly [O in keyof operations]?: [QueryOf<operations[O]>] extends [never]
    ? never
    : { readonly [Q in keyof QueryOf<operations[O]>]?: Limit<NonNullable<QueryOf<operations[O]>[Q]>> };
};
