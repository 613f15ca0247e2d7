"""schema_check.py — a small JSON Schema validator (the subset our schema uses).

Owns: validating results.json against compare/results.schema.json without any
pip package. Supported keywords: type (string or list), properties, required,
additionalProperties (bool or schema), items, enum, const, minimum, maximum,
minItems, pattern, anyOf, $ref to "#/definitions/NAME". Anything else in the schema is
an error, so the schema cannot silently use a keyword nobody checks.

Called by: runner.py (before writing results), the smoke test, and by hand:
  python3 compare/schema_check.py results.json
"""

import json
import os
import re
import sys

KNOWN = {"$schema", "$id", "title", "description", "definitions", "type", "properties", "required",
         "additionalProperties", "items", "enum", "const", "minimum", "maximum", "minItems", "pattern", "$ref", "anyOf"}

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def default_schema_path():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.schema.json")


def validate(value, schema, root=None, path="$"):
    """Returns a list of error strings (empty when value matches schema)."""
    root = root if root is not None else schema
    errors = []
    unknown = set(schema) - KNOWN
    if unknown:
        return ["%s: schema uses unsupported keyword(s) %s" % (path, sorted(unknown))]
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return validate(value, root["definitions"][name], root, path)
    if "anyOf" in schema:
        tries = [validate(value, s, root, path) for s in schema["anyOf"]]
        if all(tries):
            return ["%s: matches none of anyOf: %s" % (path, "; ".join(t[0] for t in tries))]
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[k](value) for k in kinds):
            return ["%s: expected %s, got %s" % (path, "/".join(kinds), type(value).__name__)]
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r not one of %r" % (path, value, schema["enum"]))
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (path, value, schema["const"]))
    if TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r < minimum %r" % (path, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r > maximum %r" % (path, value, schema["maximum"]))
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %r" % (path, value, schema["pattern"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: missing required %r" % (path, key))
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                errors += validate(v, props[key], root, "%s.%s" % (path, key))
            elif extra is False:
                errors.append("%s: unexpected property %r" % (path, key))
            elif isinstance(extra, dict):
                errors += validate(v, extra, root, "%s.%s" % (path, key))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "items" in schema:
            for i, v in enumerate(value):
                errors += validate(v, schema["items"], root, "%s[%d]" % (path, i))
    return errors


def validate_file(doc, schema_path):
    with open(schema_path) as f:
        return validate(doc, json.load(f))


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: schema_check.py RESULTS.json [SCHEMA.json]\n")
        return 2
    with open(argv[1]) as f:
        doc = json.load(f)
    errors = validate_file(doc, argv[2] if len(argv) == 3 else default_schema_path())
    for e in errors:
        print(e)
    print("%s: %s" % (argv[1], "valid" if not errors else "%d error(s)" % len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
