// CSV injection (OWASP): a spreadsheet runs a cell that starts with =, +, -, @, a tab or a carriage return as a
// formula. Exported cells that would start so get a leading ' (a spreadsheet shows the text, runs nothing); import
// removes that one quote again, so a file exported here imports back unchanged. A cell that already starts with
// quotes before such a character gets one more, which keeps the rule reversible.
const FORMULA_START = /^'*[=+\-@\t\r]/;

/** The cell as written to a CSV export. */
export const neutraliseCell = (value: string) => (FORMULA_START.test(value) ? `'${value}` : value);

/** The cell as read from a CSV import: the quote an export added is removed; anything else is kept as it is. */
export const restoreCell = (value: string) =>
  value.startsWith("'") && FORMULA_START.test(value) ? value.slice(1) : value;
