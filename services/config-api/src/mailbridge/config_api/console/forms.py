"""One form renderer for every resource: the fields come from the API's own OpenAPI schema of the
resource's request body, so a field or rule added to the API shows up in the console without a
second copy. Plain functions: schema → fields, submitted form → JSON body, problem → field errors.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# How a form control shows a value of a given JSON schema shape.
TEXT, EMAIL, URL, NUMBER, CHECKBOX, SELECT, MULTISELECT, LINES, PASSWORD = (
    "text",
    "email",
    "url",
    "number",
    "checkbox",
    "select",
    "multiselect",
    "lines",
    "password",
)
WRITE_ONLY = "write-only"  # the API's description of a field it never returns (a secret)


@dataclass(frozen=True)
class FormField:
    name: str
    kind: str
    required: bool = False
    nullable: bool = False
    enum: str | None = None  # the enum schema's name, for the choices' labels
    choices: tuple[str, ...] = ()  # enum values
    max_length: int | None = None
    default: Any = None
    write_only: bool = False
    title: str = ""  # the schema's own title and description: the label and help of a field
    description: str = ""  # the translation files do not know yet


@dataclass
class FormState:
    """What a form shows: each field's value as the browser sends it back (a string, a list of
    strings for multi-selects, a bool for checkboxes), the errors beside fields, the rest on top."""

    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def _resolve(
    schema: Mapping[str, Any], components: Mapping[str, Any]
) -> tuple[Mapping[str, Any], str | None]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return components[name], name
    return schema, None


def fields_of(
    schema_name: str, components: Mapping[str, Any], references: Mapping[str, object]
) -> list[FormField]:
    """The form fields of one request schema (`components` = the OpenAPI document's schemas);
    `references` names the fields that hold ids of other objects (shown as choices)."""
    schema = components[schema_name]
    required = set(schema.get("required", []))
    result = []
    for name, raw in schema.get("properties", {}).items():
        prop, enum_name = _resolve(raw, components)
        nullable = False
        if "anyOf" in prop:
            options = [_resolve(option, components) for option in prop["anyOf"]]
            real = [(option, n) for option, n in options if option.get("type") != "null"]
            nullable = len(real) < len(options)
            prop, enum_name = real[0] if real else ({}, None)
        write_only = raw.get("description") == WRITE_ONLY or prop.get("description") == WRITE_ONLY
        kind = _kind(name, prop, references, write_only)
        result.append(
            FormField(
                name=name,
                kind=kind,
                required=name in required,
                nullable=nullable,
                enum=enum_name if "enum" in prop else None,
                choices=tuple(str(value) for value in prop.get("enum", ())),
                max_length=prop.get("maxLength"),
                default=raw.get("default"),
                write_only=write_only,
                title=str(raw.get("title") or prop.get("title") or name),
                description=""
                if write_only
                else str(raw.get("description") or prop.get("description") or ""),
            )
        )
    return result


def in_order(fields: Sequence[FormField], order: Sequence[str]) -> list[FormField]:
    """The fields named in `order` first, in that order (the manual's), then the others as the
    schema has them."""
    rank = {name: position for position, name in enumerate(order)}
    return sorted(fields, key=lambda f: rank.get(f.name, len(rank)))


def _kind(name: str, prop: Mapping[str, Any], references: Mapping[str, object], write_only: bool) -> str:
    kind = prop.get("type")
    if name in references:
        return MULTISELECT if kind == "array" else SELECT
    if write_only:
        return PASSWORD
    if "enum" in prop:
        return SELECT
    if kind == "boolean":
        return CHECKBOX
    if kind == "integer":
        return NUMBER
    if kind == "array":
        return LINES
    return {"email": EMAIL, "uri": URL}.get(str(prop.get("format")), TEXT)


def initial_values(fields: Sequence[FormField], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values from an object the API returned (edit) or from the schema's defaults (new)."""
    values: dict[str, Any] = {}
    for f in fields:
        value = current.get(f.name) if current is not None else f.default
        if f.write_only:
            values[f.name] = ""
        elif f.kind == CHECKBOX:
            values[f.name] = bool(value)
        elif f.kind == MULTISELECT:
            values[f.name] = [str(item) for item in value or []]
        elif f.kind == LINES:
            values[f.name] = "\n".join(str(item) for item in value or [])
        else:
            values[f.name] = "" if value is None else str(value)
    return values


def submitted_values(fields: Sequence[FormField], form: Any) -> dict[str, Any]:
    """The values as typed (`form`: Starlette's FormData), kept to show again on an error."""
    values: dict[str, Any] = {}
    for f in fields:
        if f.kind == CHECKBOX:
            values[f.name] = f.name in form
        elif f.kind == MULTISELECT:
            values[f.name] = [str(item) for item in form.getlist(f.name)]
        else:
            values[f.name] = str(form.get(f.name, ""))
    return values


def body_of(fields: Sequence[FormField], values: Mapping[str, Any], editing: bool) -> dict[str, Any]:
    """The JSON body for the API. Nothing is judged here: a number that is not one goes as typed,
    so that the API's own rules say what is wrong with it, beside the field. An empty write-only
    field (a secret) is left out when editing: it keeps the stored one."""
    body: dict[str, Any] = {}
    for f in fields:
        value = values.get(f.name)
        if f.kind == CHECKBOX or f.kind == MULTISELECT:
            body[f.name] = value
        elif f.kind == LINES:
            body[f.name] = [line.strip() for line in str(value or "").splitlines() if line.strip()]
        else:
            text = str(value or "")
            if f.write_only and not text:
                if editing:
                    continue
                body[f.name] = None
            elif not text.strip() and (f.nullable or (not f.required and f.kind == SELECT)):
                body[f.name] = None
            elif f.kind == NUMBER:
                body[f.name] = int(text) if _is_int(text) else text
            else:
                body[f.name] = text
    return body


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def apply_problem(state: FormState, problem: Mapping[str, Any], fields: Sequence[FormField]) -> None:
    """A problem+json answer's field errors beside their fields (`scopes.0` → `scopes`); the rest,
    and the problem's detail when no field is named, above the form."""
    names = {f.name for f in fields}
    for error in problem.get("errors") or []:
        location = str(error.get("field", ""))
        head = location.split(".", 1)[0]
        message = str(error.get("message", ""))
        rule = str(error.get("rule", ""))
        text = f"{message} ({rule})" if rule and rule not in message else message
        if head in names:
            state.errors.setdefault(head, []).append(text)
        else:
            state.general.append(f"{location}: {text}" if location else text)
    if not problem.get("errors"):
        state.general.append(str(problem.get("detail") or problem.get("title") or "error"))
