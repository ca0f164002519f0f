/**
 * A run as notebook cells (nbformat v4): the task, each plan, each step's thought as
 * Markdown, its code as a code cell with the outputs it had, and the final answer. Made in
 * the browser from the run JSON alone, so it works with the kernel gone; `%agent export`
 * (Python) makes the notebook that re-executes without a model.
 */

import type { IActionStep, IOutput, IRun } from './payload';
import { callText, formatValue, stepTitle } from './text';

export interface ICellJSON {
  cell_type: 'markdown' | 'code';
  source: string;
  metadata: Record<string, unknown>;
  outputs?: IOutput[];
  execution_count?: number | null;
}

export interface INotebookJSON {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: ICellJSON[];
}

/** Text for Markdown that cannot become HTML (a model's text is not the user's markup). */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]])/g, '\\$1');
}

function quote(text: string): string {
  return text
    .split('\n')
    .map(line => `> ${line}`)
    .join('\n');
}

function fence(text: string): string {
  const longest = Math.max(
    2,
    ...Array.from(text.matchAll(/`+/g), m => m[0].length)
  );
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}\n${text}\n${ticks}`;
}

function markdown(source: string, step?: number): ICellJSON {
  const metadata: Record<string, unknown> =
    step === undefined ? {} : { smoldepot: { step } };
  return { cell_type: 'markdown', source, metadata };
}

/** Outputs fit for a code cell: known kinds only, `execute_result` with its count. */
function cellOutputs(outputs: IOutput[]): IOutput[] {
  const kept: IOutput[] = [];
  for (const output of outputs) {
    const kind = output.output_type;
    if (kind === 'stream' || kind === 'error' || kind === 'display_data') {
      kept.push(JSON.parse(JSON.stringify(output)));
    } else if (kind === 'execute_result') {
      kept.push({
        ...JSON.parse(JSON.stringify(output)),
        execution_count: output.execution_count ?? null
      });
    }
  }
  return kept;
}

/** The code cell of one action step (null when it had no code). */
export function stepCodeCell(step: IActionStep): ICellJSON | null {
  if (!step.code) {
    return null;
  }
  return {
    cell_type: 'code',
    source: step.code,
    metadata: { smoldepot: { step: step.step_number } },
    outputs: cellOutputs(step.outputs),
    execution_count: null
  };
}

/** The whole run as cells, in the order the view shows it. */
export function runToCells(run: IRun): ICellJSON[] {
  const cells: ICellJSON[] = [];
  const heading = [`### Agent run${run.run_id ? ` \`${run.run_id}\`` : ''}`];
  if (run.model_id) {
    heading.push(
      `Model: ${escapeMarkdown(run.model_id)} · status: ${escapeMarkdown(String(run.status))}`
    );
  }
  heading.push('', quote(escapeMarkdown(run.task || '(no task)')));
  cells.push(markdown(heading.join('\n')));
  for (const step of run.steps) {
    if (step.type === 'planning') {
      cells.push(
        markdown(`**${stepTitle(step)}**\n\n${escapeMarkdown(step.plan)}`)
      );
    } else if (step.type === 'action') {
      const parts = [`**${stepTitle(step)}**`];
      if (step.thought.trim()) {
        parts.push('', escapeMarkdown(step.thought.trim()));
      }
      if (step.tool_calls.length && !step.code) {
        parts.push(
          '',
          ...step.tool_calls.map(
            call =>
              `- ${escapeMarkdown(callText(call))} → ${escapeMarkdown(call.error ? `failed: ${call.error}` : call.result_repr)}`
          )
        );
      }
      if (step.error) {
        parts.push('', 'Error:', '', fence(step.error));
      }
      cells.push(markdown(parts.join('\n'), step.step_number));
      const code = stepCodeCell(step);
      if (code) {
        cells.push(code);
      }
    }
  }
  if (run.has_final_answer) {
    cells.push(
      markdown(`**Final answer**\n\n${fence(formatValue(run.final_answer))}`)
    );
  }
  return cells;
}

/** The run as a notebook of its own. */
export function runToNotebook(run: IRun): INotebookJSON {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3 (ipykernel)',
        language: 'python'
      },
      language_info: { name: 'python' },
      smoldepot: { run_id: run.run_id, exported_from: 'run view' }
    },
    cells: runToCells(run)
  };
}

/** The code of every action step, in order, as one script. */
export function runCode(run: IRun): string {
  return run.steps
    .filter((s): s is IActionStep => s.type === 'action' && !!s.code)
    .map(s => `# Step ${s.step_number}\n${s.code}`)
    .join('\n\n');
}
