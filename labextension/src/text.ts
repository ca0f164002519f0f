/**
 * Words and numbers the view shows, written as the Python renderings write them
 * (smoldepot_jupyter/ui/static.py), so a run reads the same with or without the extension.
 */

import type { IActionStep, IRun, IToolCall, Step } from './payload';

export const STATUS_LABELS: Record<string, string> = {
  running: 'running',
  success: 'success',
  max_steps: 'max steps reached',
  interrupted: 'interrupted',
  error: 'error'
};

/** "850 ms" below a second, "12.3 s" above; "" for none. */
export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return '';
  }
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(1)} s`;
}

function thousands(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "5,400 tokens in · 240 out". */
export function tokens(prompt: number, completion: number): string {
  return `${thousands(prompt)} tokens in · ${thousands(completion)} out`;
}

/** "3/5"; the best-answer call after the budget ran out shows as "5/5". */
export function progress(run: IRun): string {
  if (!run.max_steps) {
    return String(run.step);
  }
  return `${Math.min(run.step, run.max_steps)}/${run.max_steps}`;
}

function pyString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = '';
  for (const ch of text) {
    if (ch === '\\') {
      out += '\\\\';
    } else if (ch === quote) {
      out += '\\' + quote;
    } else if (ch === '\n') {
      out += '\\n';
    } else if (ch === '\r') {
      out += '\\r';
    } else if (ch === '\t') {
      out += '\\t';
    } else {
      out += ch;
    }
  }
  return quote + out + quote;
}

function isOpaque(value: unknown): value is { type: string; repr: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const keys = Object.keys(value);
  return (
    keys.length === 2 &&
    typeof (value as any).type === 'string' &&
    typeof (value as any).repr === 'string'
  );
}

/** A JSON value as Python's repr would write it; `{type, repr}` stand-ins as their repr. */
export function pyRepr(value: unknown, depth = 0): string {
  if (depth > 20) {
    return '...';
  }
  if (value === null || value === undefined) {
    return 'None';
  }
  if (value === true) {
    return 'True';
  }
  if (value === false) {
    return 'False';
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(value) : 'nan';
  }
  if (typeof value === 'string') {
    return pyString(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(v => pyRepr(v, depth + 1)).join(', ')}]`;
  }
  if (isOpaque(value)) {
    return value.repr;
  }
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${pyString(k)}: ${pyRepr(v, depth + 1)}`
    );
    return `{${items.join(', ')}}`;
  }
  return String(value);
}

/** A value as the view shows it: strings as they are, anything else as its repr. */
export function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** The call as Python would write it: `name(1, key='value')`. */
export function callText(call: IToolCall): string {
  const parts = call.args.map(a => pyRepr(a));
  for (const [k, v] of Object.entries(call.kwargs)) {
    parts.push(`${k}=${pyRepr(v)}`);
  }
  return `${call.name}(${parts.join(', ')})`;
}

/** The one-line title of a step: "Step 2 · error · 1.2 s · 340 tokens in · 52 out". */
export function stepTitle(step: Step): string {
  if (step.type === 'unreadable') {
    return 'Unreadable step';
  }
  let parts: string[];
  if (step.type === 'planning') {
    parts = [step.finished ? 'Plan' : 'Planning…'];
  } else {
    parts = [`Step ${step.step_number}`];
    if (step.is_best_answer_fallback) {
      parts.push('best answer after the last step');
    } else if (step.requests.length) {
      parts.push('asked for the answer so far');
    }
    if (step.temperature !== null) {
      parts.push(`sampled at temperature ${step.temperature}`);
    }
    if (!step.finished) {
      parts.push('running…');
    } else if (step.error) {
      parts.push('error');
    } else if (step.is_final_answer) {
      parts.push('final answer');
    }
  }
  if (step.duration !== null) {
    parts.push(seconds(step.duration));
  }
  const u = step.token_usage;
  if (u.prompt_tokens + u.completion_tokens) {
    parts.push(tokens(u.prompt_tokens, u.completion_tokens));
  }
  return parts.join(' · ');
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-Z\\-_]/g;

/** Text without ANSI escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** What a terminal would show: `\r` returns to the line start, `\b` erases a character. */
export function renderTerminal(text: string): string {
  if (!text.includes('\r') && !text.includes('\b')) {
    return text;
  }
  return text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map(line => {
      let shown = '';
      for (const segment of line.split('\r')) {
        let current = '';
        for (const ch of segment) {
          current = ch === '\b' ? current.slice(0, -1) : current + ch;
        }
        shown = current + shown.slice(current.length);
      }
      return shown;
    })
    .join('\n');
}

/** nbformat's "string or list of lines". */
export function asText(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map(v => (typeof v === 'string' ? v : String(v))).join('');
  }
  return value === undefined || value === null ? '' : String(value);
}

/** What the executor writes when an action printed nothing (kernel/execution.py). */
const PRINTED_NOTHING = [
  '(the action ran and printed nothing)',
  '(the action printed only blank lines: the values it printed are empty)'
];

/** A final answer's step whose observation only says nothing was printed: noise under it. */
export function saysOnlyWhatWasPrinted(step: IActionStep): boolean {
  return step.is_final_answer && PRINTED_NOTHING.includes(step.observation);
}

/** The run's errors as the static rendering lists them. */
export function runErrors(run: IRun): string[] {
  const errors = run.errors.map(e =>
    e.step ? `Step ${e.step}: ${e.message}` : e.message
  );
  if (run.error && !errors.join('\n').includes(run.error)) {
    errors.push(run.error);
  }
  if (run.status === 'interrupted') {
    errors.push('The run was interrupted; the steps above are kept.');
  }
  return errors;
}
