/**
 * The run view: the whole run drawn from its JSON with `document.createElement` and
 * `textContent` (HTML outputs only through the sanitizer). `update()` is called again for
 * every display update while a run streams: the parts that did not change keep their nodes
 * (no flicker, images not decoded again, fold state and scroll positions kept), and only the
 * steps of the page shown are built, so a run of 10,000 steps renders as fast as one of 50.
 */

import { highlight } from './highlight';
import { element, ISanitizerLike, renderOutput } from './outputs';
import { IActionStep, IRun, readRun, Step } from './payload';
import {
  callText,
  formatValue,
  progress,
  runErrors,
  saysOnlyWhatWasPrinted,
  seconds,
  STATUS_LABELS,
  stepTitle,
  tokens
} from './text';

/** The root element's classes: `smoldepot-run` as in the static rendering, `sd-lab` for this. */
export const ROOT_CLASS = 'smoldepot-run';
export const NATIVE_CLASS = 'sd-lab';

/** Where the root element keeps its run, for the commands (a property, not an attribute). */
export const RUN_KEY = Symbol.for('smoldepot-jupyter.run');

/** Steps per page. */
export const PAGE_SIZE = 50;

export interface IRunViewOptions {
  sanitizer: ISanitizerLike | null;
  pageSize?: number;
}

/** The root node of a run view, with its run. */
export interface IRunNode extends HTMLElement {
  [RUN_KEY]?: IRun;
}

interface IPart {
  key: string;
  sig: string;
  build: () => Node | null;
}

/** Children of one container, each rebuilt only when its signature changed. */
class Keyed {
  constructor(readonly container: HTMLElement) {}

  update(parts: IPart[]): void {
    const next = new Map<string, { sig: string; node: Node | null }>();
    const nodes: Node[] = [];
    for (const part of parts) {
      const old = this._cache.get(part.key);
      const node = old && old.sig === part.sig ? old.node : part.build();
      next.set(part.key, { sig: part.sig, node });
      if (node) {
        nodes.push(node);
      }
    }
    for (const [key, old] of this._cache) {
      const kept = next.get(key);
      if (old.node && (!kept || kept.node !== old.node)) {
        old.node.parentNode?.removeChild(old.node);
      }
    }
    let cursor = this.container.firstChild;
    for (const node of nodes) {
      if (node === cursor) {
        cursor = cursor.nextSibling;
      } else {
        this.container.insertBefore(node, cursor);
      }
    }
    this._cache = next;
  }

  /** The node shown for `key` (null: none). */
  nodeOf(key: string): Node | null {
    return this._cache.get(key)?.node ?? null;
  }

  private _cache = new Map<string, { sig: string; node: Node | null }>();
}

function label(text: string): HTMLElement {
  return element('div', 'sdl-label', text);
}

function pre(text: string, className = ''): HTMLPreElement {
  return element('pre', `sdl-pre ${className}`.trim(), text);
}

/** Copy text to the clipboard, with the old-fashioned way where the API is missing. */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && navigator.clipboard.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // not allowed here (an insecure context): fall through
    }
  }
  const area = element('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  try {
    document.execCommand('copy');
  } finally {
    area.remove();
  }
}

function codeBlock(code: string, stepNumber: number): HTMLElement {
  const box = element('div', 'sdl-code-box');
  const block = element('pre', 'sdl-pre sdl-code');
  block.appendChild(highlight(code));
  const copy = element('button', 'sdl-copy', 'Copy');
  copy.type = 'button';
  copy.title = `Copy the code of step ${stepNumber}`;
  copy.setAttribute('aria-label', `Copy the code of step ${stepNumber}`);
  copy.addEventListener('click', event => {
    event.stopPropagation();
    void copyText(code).then(
      () => {
        copy.textContent = 'Copied';
        setTimeout(() => (copy.textContent = 'Copy'), 1500);
      },
      () => (copy.textContent = 'Copy failed')
    );
  });
  box.append(block, copy);
  return box;
}

function toolCalls(step: IActionStep): HTMLElement {
  const box = element('div', 'sdl-tools-box');
  box.appendChild(label('Tool calls'));
  const list = element('ul', 'sdl-tools');
  for (const call of step.tool_calls) {
    const item = element('li');
    item.appendChild(element('code', 'sdl-call', callText(call)));
    item.appendChild(document.createTextNode(' '));
    if (call.error) {
      item.appendChild(element('span', 'sdl-error', `failed: ${call.error}`));
    } else {
      item.appendChild(document.createTextNode('→ '));
      item.appendChild(element('code', 'sdl-result', call.result_repr));
    }
    item.appendChild(document.createTextNode(' '));
    item.appendChild(
      element('span', 'sdl-muted', `(${seconds(call.seconds)})`)
    );
    list.appendChild(item);
  }
  box.appendChild(list);
  return box;
}

function stepNotes(step: IActionStep): HTMLElement | null {
  const box = element('div', 'sdl-notes-box');
  const observation = saysOnlyWhatWasPrinted(step)
    ? ''
    : step.observation.replace(/^\n+|\n+$/g, '');
  if (observation) {
    if (step.outputs.length) {
      const details = element('details', 'sdl-observation');
      details.appendChild(
        element('summary', '', 'Observation (what the model read)')
      );
      details.appendChild(pre(observation));
      box.appendChild(details);
    } else {
      box.appendChild(label('Observation'));
      box.appendChild(pre(observation));
    }
  }
  if (step.error) {
    const error = element('div', 'sdl-step-error');
    error.appendChild(label('Error'));
    error.appendChild(pre(step.error, 'sdl-error-text'));
    box.appendChild(error);
  }
  return box.childNodes.length ? box : null;
}

/** Where a scrolled element is: at its end (to follow what is added), or how far down. */
function scrollState(
  node: Node | null
): { top: number; atEnd: boolean } | null {
  if (
    !(node instanceof HTMLElement) ||
    node.scrollHeight <= node.clientHeight
  ) {
    return null;
  }
  return {
    top: node.scrollTop,
    atEnd: node.scrollTop + node.clientHeight >= node.scrollHeight - 4
  };
}

/** Long text and HTML scroll inside their own box: reachable by keyboard to scroll it. */
function markScrollable(node: HTMLElement | null, size: number): void {
  if (node && size > 1500) {
    node.tabIndex = 0;
  }
}

/**
 * The outputs of a step. Each long output scrolls inside its own box (figures never do), and
 * an output that grows while the run streams keeps where the reader scrolled it to, or
 * follows its end when it was there.
 */
class OutputsBox {
  readonly node: HTMLElement;

  constructor(private _sanitizer: ISanitizerLike | null) {
    this.node = element('div', 'sdl-outputs-box');
    this.node.appendChild(label('Output'));
    const list = element('div', 'sdl-outputs');
    this.node.appendChild(list);
    this._items = new Keyed(list);
  }

  update(step: IActionStep): void {
    const before = step.outputs.map((_, index) =>
      scrollState(this._items.nodeOf(String(index)))
    );
    this._items.update(
      step.outputs.map((output, index) => {
        const sig = JSON.stringify(output);
        return {
          key: String(index),
          sig,
          build: () => {
            const node = renderOutput(output, this._sanitizer);
            markScrollable(node, sig.length);
            return node;
          }
        };
      })
    );
    before.forEach((state, index) => {
      const node = this._items.nodeOf(String(index));
      if (state && node instanceof HTMLElement) {
        node.scrollTop = state.atEnd ? node.scrollHeight : state.top;
      }
    });
  }

  private _items: Keyed;
}

/** One step: a title that folds it (a button, so it is reachable by keyboard) and a body. */
class StepBlock {
  readonly node: HTMLElement;

  constructor(
    readonly index: number,
    private _sanitizer: ISanitizerLike | null,
    collapsed: boolean,
    onToggle: (index: number, collapsed: boolean) => void
  ) {
    this.node = element('section', 'sdl-step');
    this.node.dataset.stepIndex = String(index);
    this._title = element('button', 'sdl-step-title');
    this._title.type = 'button';
    this._body = element('div', 'sdl-body');
    this._body.id = `sdl-${Math.random().toString(36).slice(2)}-${index}`;
    this._title.setAttribute('aria-controls', this._body.id);
    this._title.addEventListener('click', () => {
      this.setCollapsed(!this._collapsed);
      onToggle(this.index, this._collapsed);
    });
    this.node.append(this._title, this._body);
    this._parts = new Keyed(this._body);
    this.setCollapsed(collapsed);
  }

  setCollapsed(collapsed: boolean): void {
    this._collapsed = collapsed;
    this._body.hidden = collapsed;
    this._title.setAttribute('aria-expanded', String(!collapsed));
    this.node.classList.toggle('sdl-collapsed', collapsed);
  }

  update(step: Step): void {
    this.node.classList.toggle('sdl-planning', step.type === 'planning');
    this.node.classList.toggle('sdl-action', step.type === 'action');
    this.node.classList.toggle(
      'sdl-has-error',
      step.type === 'action' && !!step.error
    );
    this.node.classList.toggle(
      'sdl-running',
      step.type !== 'unreadable' && !step.finished
    );
    this._title.textContent = stepTitle(step);
    if (step.type === 'unreadable') {
      this._parts.update([
        {
          key: 'reason',
          sig: step.reason,
          build: () =>
            pre(
              `This step could not be read: ${step.reason}.`,
              'sdl-error-text'
            )
        }
      ]);
      return;
    }
    if (step.type === 'planning') {
      this._parts.update([
        {
          key: 'plan',
          sig: step.plan,
          build: () =>
            step.plan.trim()
              ? element(
                  'div',
                  `sdl-thought${step.finished ? '' : ' sdl-streaming'}`,
                  step.plan.trim()
                )
              : null
        }
      ]);
      return;
    }
    const thought = step.thought.trim();
    const parts: IPart[] = [
      {
        key: 'thought',
        sig: `${step.parsed}|${thought}`,
        build: () =>
          thought
            ? element(
                'div',
                `sdl-thought${step.parsed ? '' : ' sdl-streaming'}`,
                thought
              )
            : null
      },
      {
        key: 'code',
        sig: step.code ?? '',
        build: () => (step.code ? codeBlock(step.code, step.step_number) : null)
      },
      {
        key: 'tools',
        sig: JSON.stringify(step.tool_calls),
        build: () => (step.tool_calls.length ? toolCalls(step) : null)
      }
    ];
    if (step.outputs.length) {
      this._outputs ??= new OutputsBox(this._sanitizer);
      this._outputs.update(step);
      const box = this._outputs.node;
      parts.push({ key: 'outputs', sig: 'box', build: () => box });
    } else {
      this._outputs = null;
    }
    parts.push({
      key: 'notes',
      sig: JSON.stringify([
        step.observation,
        step.error,
        step.outputs.length > 0,
        step.is_final_answer
      ]),
      build: () => stepNotes(step)
    });
    this._parts.update(parts);
  }

  private _title: HTMLButtonElement;
  private _body: HTMLElement;
  private _parts: Keyed;
  private _outputs: OutputsBox | null = null;
  private _collapsed = false;
}

function header(run: IRun): HTMLElement {
  const node = element('div', 'sdl-header');
  const title = element('div', 'sdl-title');
  const status = String(run.status);
  const badge = element(
    'span',
    `sdl-badge sdl-status-${status.replace(/[^a-z_]/g, '')}`,
    STATUS_LABELS[status] ?? status
  );
  title.appendChild(badge);
  if (run.model_id) {
    title.appendChild(element('code', 'sdl-model', run.model_id));
  }
  const meta = [
    `step ${progress(run)}`,
    tokens(run.token_usage.prompt_tokens, run.token_usage.completion_tokens),
    seconds(run.elapsed) || '0 ms'
  ];
  title.appendChild(element('span', 'sdl-meta', meta.join(' · ')));
  node.appendChild(title);
  node.appendChild(
    run.task
      ? element('div', 'sdl-task', run.task)
      : element('div', 'sdl-task sdl-muted', 'waiting for the run…')
  );
  if (run.sandbox) {
    node.appendChild(
      element('div', 'sdl-sandbox sdl-muted', `sandbox: ${run.sandbox}`)
    );
  }
  return node;
}

function finalArea(run: IRun): HTMLElement | null {
  const node = element('div', 'sdl-end');
  if (run.has_final_answer) {
    const fallback = run.status === 'max_steps';
    const box = element('div', `sdl-final${fallback ? ' sdl-fallback' : ''}`);
    box.appendChild(
      label(
        fallback
          ? 'Final answer (best answer after the step limit)'
          : 'Final answer'
      )
    );
    box.appendChild(pre(formatValue(run.final_answer), 'sdl-answer'));
    if (run.answer_rewritten) {
      box.appendChild(
        label(
          "As the run gave it (rewritten in the task's form by one more model call)"
        )
      );
      box.appendChild(pre(formatValue(run.answer_as_given)));
    }
    node.appendChild(box);
  }
  const errors = runErrors(run);
  if (errors.length) {
    const box = element('div', 'sdl-run-error');
    box.appendChild(element('div', 'sdl-label sdl-error', 'Run error'));
    box.appendChild(pre(errors.join('\n')));
    node.appendChild(box);
  }
  return node.childNodes.length ? node : null;
}

/** The pager shown above the steps when there are more than a page of them. */
class Pager {
  readonly node: HTMLElement;

  constructor(private _go: (page: number) => void) {
    this.node = element('nav', 'sdl-pager');
    this.node.setAttribute('aria-label', 'Steps of the run');
    this._first = this._button('« First', 'First page of steps', () => 0);
    this._prev = this._button(
      '‹ Previous',
      'Previous page of steps',
      () => this._page - 1
    );
    this._label = element('span', 'sdl-pager-label');
    this._label.setAttribute('aria-live', 'polite');
    this._next = this._button(
      'Next ›',
      'Next page of steps',
      () => this._page + 1
    );
    this._last = this._button(
      'Last »',
      'Last page of steps',
      () => this._pages - 1
    );
    const jump = element('label', 'sdl-pager-jump', 'Go to step ');
    this._input = element('input');
    this._input.type = 'number';
    this._input.min = '1';
    this._input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        const index = Number(this._input.value) - 1;
        if (Number.isFinite(index)) {
          this._go(Math.floor(index / this._size));
        }
      }
    });
    jump.appendChild(this._input);
    this.node.append(
      this._first,
      this._prev,
      this._label,
      this._next,
      this._last,
      jump
    );
  }

  update(page: number, pages: number, size: number, count: number): void {
    this._page = page;
    this._pages = pages;
    this._size = size;
    this.node.hidden = pages <= 1;
    const start = page * size + 1;
    const end = Math.min(count, (page + 1) * size);
    this._label.textContent = `Steps ${start.toLocaleString('en-US')}–${end.toLocaleString('en-US')} of ${count.toLocaleString('en-US')}`;
    this._first.disabled = this._prev.disabled = page <= 0;
    this._next.disabled = this._last.disabled = page >= pages - 1;
    this._input.max = String(count);
  }

  private _button(
    text: string,
    title: string,
    target: () => number
  ): HTMLButtonElement {
    const button = element('button', 'sdl-pager-button', text);
    button.type = 'button';
    button.title = title;
    button.addEventListener('click', () => this._go(target()));
    return button;
  }

  private _page = 0;
  private _pages = 1;
  private _size = PAGE_SIZE;
  private _first: HTMLButtonElement;
  private _prev: HTMLButtonElement;
  private _next: HTMLButtonElement;
  private _last: HTMLButtonElement;
  private _label: HTMLElement;
  private _input: HTMLInputElement;
}

export class RunView {
  readonly node: IRunNode;

  constructor(options: IRunViewOptions) {
    this._sanitizer = options.sanitizer;
    this._pageSize = Math.max(1, options.pageSize ?? PAGE_SIZE);
    this.node = element('div', `${ROOT_CLASS} ${NATIVE_CLASS}`);
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Agent run');
    this._problem = element('div', 'sdl-problem');
    this._problem.setAttribute('role', 'alert');
    this._problem.hidden = true;
    const top = element('div', 'sdl-top');
    this._top = new Keyed(top);
    this._pager = new Pager(page => this.showPage(page));
    const steps = element('div', 'sdl-steps');
    this._steps = new Keyed(steps);
    const end = element('div', 'sdl-end-area');
    this._end = new Keyed(end);
    this.node.append(this._problem, top, this._pager.node, steps, end);
  }

  /** The run shown (null before the first readable payload). */
  get run(): IRun | null {
    return this._run;
  }

  /** The page of steps shown (0-based). */
  get page(): number {
    return this._page;
  }

  /** Show `data` (the payload of the mimetype): never throws. */
  update(data: unknown): void {
    const result = readRun(data);
    if (!result.ok) {
      this._showProblem(
        `This agent run cannot be shown: ${result.reason}. The notebook output may be ` +
          'cut off or edited, or written by another version of smoldepot.' +
          (this._run
            ? ' The last readable state of the run is shown below.'
            : '')
      );
      return;
    }
    try {
      this._problem.hidden = true;
      this._problem.textContent = '';
      this._run = result.run;
      this.node[RUN_KEY] = result.run;
      if (result.run.run_id) {
        this.node.dataset.runId = result.run.run_id;
      }
      this.node.dataset.status = String(result.run.status);
      this._render(result.run, result.notes);
    } catch (error) {
      this._showProblem(`This agent run could not be drawn: ${String(error)}.`);
    }
  }

  /** Show the page of steps `page` (clamped); the last page follows new steps. */
  showPage(page: number): void {
    const count = this._run ? this._run.steps.length : 0;
    const pages = Math.max(1, Math.ceil(count / this._pageSize));
    this._page = Math.min(Math.max(0, Math.floor(page)), pages - 1);
    this._follow = this._page === pages - 1;
    if (this._run) {
      this._renderSteps(this._run);
    }
  }

  dispose(): void {
    this._blocks.clear();
    this.node.replaceChildren();
  }

  private _showProblem(message: string): void {
    this._problem.textContent = message;
    this._problem.hidden = false;
  }

  private _render(run: IRun, notes: string[]): void {
    const headerSig = JSON.stringify([
      run.status,
      run.model_id,
      run.step,
      run.max_steps,
      run.token_usage,
      run.elapsed,
      run.task,
      run.sandbox
    ]);
    this._top.update([
      {
        key: 'notes',
        sig: notes.join('\n'),
        build: () => {
          if (!notes.length) {
            return null;
          }
          const box = element('div', 'sdl-reader-notes');
          for (const note of notes) {
            box.appendChild(element('div', '', note));
          }
          return box;
        }
      },
      { key: 'header', sig: headerSig, build: () => header(run) }
    ]);
    this.node.setAttribute(
      'aria-label',
      `Agent run${run.task ? `: ${run.task.slice(0, 80)}` : ''}`
    );
    const pages = Math.max(1, Math.ceil(run.steps.length / this._pageSize));
    if (this._follow || this._page > pages - 1) {
      this._page = pages - 1;
    }
    this._renderSteps(run);
    this._end.update([
      {
        key: 'final',
        sig: JSON.stringify([
          run.has_final_answer,
          run.final_answer,
          run.answer_rewritten,
          run.answer_as_given,
          run.status,
          run.error,
          run.errors
        ]),
        build: () => finalArea(run)
      }
    ]);
  }

  private _renderSteps(run: IRun): void {
    const count = run.steps.length;
    const pages = Math.max(1, Math.ceil(count / this._pageSize));
    const start = this._page * this._pageSize;
    const end = Math.min(count, start + this._pageSize);
    this._pager.update(this._page, pages, this._pageSize, count);
    const parts: IPart[] = [];
    const shown = new Set<number>();
    for (let index = start; index < end; index++) {
      shown.add(index);
      let block = this._blocks.get(index);
      if (!block) {
        block = new StepBlock(
          index,
          this._sanitizer,
          this._collapsed.get(index) ?? false,
          (i, collapsed) => this._collapsed.set(i, collapsed)
        );
        this._blocks.set(index, block);
      }
      block.update(run.steps[index]);
      const node = block.node;
      parts.push({ key: String(index), sig: 'block', build: () => node });
    }
    for (const index of Array.from(this._blocks.keys())) {
      if (!shown.has(index)) {
        this._blocks.delete(index);
      }
    }
    this._steps.update(parts);
  }

  private _sanitizer: ISanitizerLike | null;
  private _pageSize: number;
  private _run: IRun | null = null;
  private _page = 0;
  private _follow = true;
  private _problem: HTMLElement;
  private _top: Keyed;
  private _pager: Pager;
  private _steps: Keyed;
  private _end: Keyed;
  private _blocks = new Map<number, StepBlock>();
  private _collapsed = new Map<number, boolean>();
}
