/**
 * The run JSON (`application/vnd.smoldepot.run+json`, docs/run-json.md) as typed values, and a
 * tolerant reader: whatever arrives (a payload of a newer version, a truncated or hand-edited
 * one), `readRun` returns a run that can be shown, or says in words why there is none.
 */

/** The mimetype whose payload this extension renders. */
export const RUN_MIMETYPE = 'application/vnd.smoldepot.run+json';

/** The payload version this renderer was written for (docs/run-json-schema.json). */
export const SCHEMA_VERSION = 4;

export type Status =
  'running' | 'success' | 'max_steps' | 'interrupted' | 'error';

export interface ITokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_prompt_tokens: number;
}

/** An nbformat v4 output, as loosely as nbformat itself allows. */
export interface IOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

export interface IToolCall {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  result_repr: string;
  error: string | null;
  seconds: number;
}

export interface IPlanningStep {
  type: 'planning';
  plan: string;
  finished: boolean;
  token_usage: ITokenUsage;
  duration: number | null;
}

export interface IActionStep {
  type: 'action';
  step_number: number;
  thought: string;
  parsed: boolean;
  code: string | null;
  outputs: IOutput[];
  tool_calls: IToolCall[];
  observation: string;
  error: string | null;
  is_final_answer: boolean;
  final_answer: unknown;
  is_best_answer_fallback: boolean;
  requests: string[];
  temperature: number | null;
  token_usage: ITokenUsage;
  duration: number | null;
  finished: boolean;
}

/** A step the reader could not make sense of: shown as a note, never dropped silently. */
export interface IUnreadableStep {
  type: 'unreadable';
  reason: string;
}

export type Step = IPlanningStep | IActionStep | IUnreadableStep;

export interface IRun {
  version: number;
  run_id: string | null;
  task: string;
  model_id: string;
  sandbox: string;
  tools: string[];
  status: Status | string;
  step: number;
  max_steps: number | null;
  token_usage: ITokenUsage;
  started_at: number | null;
  elapsed: number;
  steps: Step[];
  has_final_answer: boolean;
  final_answer: unknown;
  answer_rewritten: boolean;
  answer_as_given: unknown;
  error: string | null;
  errors: { step: number | null; message: string }[];
}

/** What `readRun` gives: a run (with notes on what was off), or why there is none. */
export type ReadResult =
  { ok: true; run: IRun; notes: string[] } | { ok: false; reason: string };

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function strOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function numOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function bool(value: unknown): boolean {
  return value === true;
}

function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : [];
}

function usage(value: unknown): ITokenUsage {
  const u = isObject(value) ? value : {};
  return {
    prompt_tokens: num(u.prompt_tokens),
    completion_tokens: num(u.completion_tokens),
    cached_prompt_tokens: num(u.cached_prompt_tokens)
  };
}

function output(value: unknown): IOutput {
  if (!isObject(value) || typeof value.output_type !== 'string') {
    return { output_type: 'unknown' };
  }
  return value as unknown as IOutput;
}

function toolCall(value: unknown): IToolCall {
  const c = isObject(value) ? value : {};
  return {
    name: str(c.name, '?'),
    args: Array.isArray(c.args) ? c.args : [],
    kwargs: isObject(c.kwargs) ? c.kwargs : {},
    result_repr: str(c.result_repr),
    error: strOrNull(c.error),
    seconds: num(c.seconds)
  };
}

function step(value: unknown, index: number): Step {
  if (!isObject(value)) {
    return { type: 'unreadable', reason: `step ${index + 1} is not an object` };
  }
  if (value.type === 'planning') {
    return {
      type: 'planning',
      plan: str(value.plan),
      finished: bool(value.finished),
      token_usage: usage(value.token_usage),
      duration: numOrNull(value.duration)
    };
  }
  if (value.type === 'action') {
    return {
      type: 'action',
      step_number: num(value.step_number, index + 1),
      thought: str(value.thought),
      parsed: bool(value.parsed),
      code: strOrNull(value.code),
      outputs: Array.isArray(value.outputs) ? value.outputs.map(output) : [],
      tool_calls: Array.isArray(value.tool_calls)
        ? value.tool_calls.map(toolCall)
        : [],
      observation: str(value.observation),
      error: strOrNull(value.error),
      is_final_answer: bool(value.is_final_answer),
      final_answer: value.final_answer ?? null,
      is_best_answer_fallback: bool(value.is_best_answer_fallback),
      requests: strings(value.requests),
      temperature: numOrNull(value.temperature),
      token_usage: usage(value.token_usage),
      duration: numOrNull(value.duration),
      finished: bool(value.finished)
    };
  }
  const kind = typeof value.type === 'string' ? `"${value.type}"` : 'no type';
  return {
    type: 'unreadable',
    reason: `step ${index + 1} has ${kind}`
  };
}

/**
 * Read a payload as it comes out of a mimebundle: a JSON object, or (from other tools) the
 * JSON text itself. Never throws.
 */
export function readRun(data: unknown): ReadResult {
  try {
    return readRunUnsafe(data);
  } catch (error) {
    return { ok: false, reason: `it could not be read (${String(error)})` };
  }
}

function readRunUnsafe(data: unknown): ReadResult {
  let value = data;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (error) {
      return {
        ok: false,
        reason: `its JSON text is malformed or cut off (${(error as Error).message})`
      };
    }
  }
  if (value === undefined || value === null) {
    return { ok: false, reason: 'the output holds no run data' };
  }
  if (!isObject(value)) {
    return {
      ok: false,
      reason: `the run data is ${Array.isArray(value) ? 'a list' : `a ${typeof value}`}, not an object`
    };
  }
  const notes: string[] = [];
  const version = num(value.version, NaN);
  if (!Number.isFinite(version)) {
    if (!('steps' in value) && !('task' in value)) {
      return {
        ok: false,
        reason: 'it has none of the fields of a run (no version, task or steps)'
      };
    }
    notes.push('The run data has no version: it is shown as far as it goes.');
  } else if (version > SCHEMA_VERSION) {
    notes.push(
      `This run was written by a newer smoldepot (payload version ${version}; this view knows ` +
        `${SCHEMA_VERSION}): fields it does not know are not shown.`
    );
  }
  if ('steps' in value && !Array.isArray(value.steps)) {
    notes.push('The run data holds no readable list of steps.');
  }
  const steps = Array.isArray(value.steps) ? value.steps.map(step) : [];
  const unreadable = steps.filter(s => s.type === 'unreadable').length;
  if (unreadable) {
    notes.push(
      `${unreadable} step${unreadable === 1 ? '' : 's'} could not be read and ` +
        `${unreadable === 1 ? 'is' : 'are'} marked below.`
    );
  }
  const errors = Array.isArray(value.errors)
    ? value.errors.filter(isObject).map(e => ({
        step: numOrNull(e.step),
        message: str(e.message)
      }))
    : [];
  return {
    ok: true,
    notes,
    run: {
      version: Number.isFinite(version) ? version : 0,
      run_id: strOrNull(value.run_id),
      task: str(value.task),
      model_id: str(value.model_id),
      sandbox: str(value.sandbox),
      tools: strings(value.tools),
      status: str(value.status, 'running'),
      step: num(value.step),
      max_steps: numOrNull(value.max_steps),
      token_usage: usage(value.token_usage),
      started_at: numOrNull(value.started_at),
      elapsed: num(value.elapsed),
      steps,
      has_final_answer: bool(value.has_final_answer),
      final_answer: value.final_answer ?? null,
      answer_rewritten: bool(value.answer_rewritten),
      answer_as_given: value.answer_as_given ?? null,
      error: strOrNull(value.error),
      errors
    }
  };
}
