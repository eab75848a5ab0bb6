// `${NAME}` placeholders, as envsubst fills them in the images: one syntax, so the tests render the very
// files the images use. Unlike envsubst, a missing value is an error, not an empty string.
export function renderTemplate(template: string, values: Record<string, string | number>): string {
  const missing = new Set<string>();
  const rendered = template.replace(/\$\{([A-Z0-9_]+)\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) missing.add(name);
    return String(value ?? '');
  });
  if (missing.size > 0) throw new Error(`template values missing: ${[...missing].join(', ')}`);
  return rendered;
}
