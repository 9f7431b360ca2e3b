import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module without types (web/scripts).
import { limitsSource } from "../../scripts/gen-limits.mjs";
import openapi from "../../../shared/api/openapi.json";
import { queryLimits, schemaLimits } from "./limits";

const doc = {
  paths: {
    "/api/things": {
      get: {
        operationId: "listThings",
        parameters: [
          { $ref: "#/components/parameters/Limit" },
          { name: "id", in: "path", schema: { type: "string", pattern: "^x$" } },
          { name: "q", in: "query", schema: { type: "string" } },
        ],
      },
    },
  },
  components: {
    parameters: { Limit: { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 7 } } },
    schemas: {
      Thing: {
        type: "object",
        properties: {
          name: { type: "string", minLength: 1, maxLength: 42, description: "dropped" },
          tags: { type: "array", maxItems: 3, items: { type: "string", pattern: "^[a-z]+$" } },
          plain: { type: "string" },
          other: { $ref: "#/components/schemas/Other" },
        },
      },
      Other: { type: "object", properties: { x: { type: "string" } } },
    },
  },
};

/** The object literal a generated constant is initialised with. */
function generated(src: string, name: string): unknown {
  const m = new RegExp(`export const ${name} = ([\\s\\S]*?) as const`).exec(src);
  return m ? JSON.parse(m[1]) : undefined;
}

describe("generated limits (scripts/gen-limits.mjs)", () => {
  it("keeps the limits of each property and query parameter, resolving $refs, and nothing else", () => {
    const src: string = limitsSource(doc);
    expect(generated(src, "schemaLimits")).toEqual({
      Thing: { name: { minLength: 1, maxLength: 42 }, tags: { maxItems: 3, items: { pattern: "^[a-z]+$" } } },
    });
    expect(generated(src, "queryLimits")).toEqual({ listThings: { limit: { minimum: 1, maximum: 7 } } });
  });

  it("follows a changed limit in the document", () => {
    const changed = structuredClone(doc);
    changed.components.schemas.Thing.properties.name.maxLength = 64;
    expect(generated(limitsSource(changed), "schemaLimits")).toMatchObject({ Thing: { name: { maxLength: 64 } } });
  });

  it("is what src/api/limits.gen.ts holds for shared/api/openapi.json", () => {
    const src: string = limitsSource(openapi);
    expect(generated(src, "schemaLimits")).toEqual(schemaLimits);
    expect(generated(src, "queryLimits")).toEqual(queryLimits);
    expect(schemaLimits.ConnectorCreate.name.maxLength).toBe(openapi.components.schemas.ConnectorCreate.properties.name.maxLength);
  });
});
