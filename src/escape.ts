/**
 * Control characters in text lvsd prints: config problems, the CLI's errors and status output, plans. A
 * leaf, so a command that reads no config never loads the config module to print safely.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Whether text holds a character that could break a line or drive a terminal. */
export function hasControl(text: string): boolean {
  return CONTROL.test(text);
}

/** Text with every control character written as an escape (\n, \x1b, \u2028), safe to print on one line. */
export function escapeControl(text: string): string {
  // most text has none: a test allocates nothing, a replace with a function allocates even when it finds none
  if (!CONTROL.test(text)) return text;
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
