/**
 * The run view on real runs (the run JSON of the executed example notebooks, extracted by
 * labextension/scripts/extract_fixtures.py) and on hostile, huge and broken ones.
 */

import * as fs from 'fs';
import * as path from 'path';

import { Sanitizer } from '@jupyterlab/apputils/lib/sanitizer';

import { runToCells, runToNotebook } from '../cells';
import { tokenize } from '../highlight';
import { readRun, RUN_MIMETYPE } from '../payload';
import { stepTitle } from '../text';
import { PAGE_SIZE, RUN_KEY, RunView } from '../view';
import { RENDERER_RANK, rendererFactory, RunRenderer } from '../widget';

const FIXTURES = path.join(__dirname, 'fixtures');
const EXAMPLES = fs
  .readdirSync(FIXTURES)
  .filter(name => name.endsWith('.json'))
  .sort();

function fixture(name: string): any {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf-8'));
}

const sanitizer = new Sanitizer();

function view(data: unknown, pageSize?: number): RunView {
  const v = new RunView({ sanitizer, pageSize });
  document.body.appendChild(v.node);
  v.update(data);
  return v;
}

function text(node: Element | null): string {
  return (node?.textContent ?? '').replace(/\s+/g, ' ').trim();
}

function action(n: number, extra: Record<string, unknown> = {}): any {
  return {
    type: 'action',
    step_number: n,
    thought: `Thought ${n}`,
    parsed: true,
    code: `x_${n} = ${n} * 2  # step ${n}\nprint(x_${n})`,
    outputs: [{ output_type: 'stream', name: 'stdout', text: `${n * 2}\n` }],
    tool_calls: [],
    observation: `${n * 2}`,
    error: null,
    is_final_answer: false,
    final_answer: null,
    is_best_answer_fallback: false,
    requests: [],
    temperature: null,
    token_usage: {
      prompt_tokens: 100,
      completion_tokens: 10,
      cached_prompt_tokens: 0
    },
    duration: 0.5,
    finished: true,
    ...extra
  };
}

function run(steps: any[], extra: Record<string, unknown> = {}): any {
  return {
    version: 4,
    run_id: '20250101-120000-5a5a5a5a',
    task: 'Do the thing.',
    model_id: 'scripted-test',
    sandbox: 'process (asked for): no isolation',
    tools: ['final_answer'],
    status: 'success',
    step: steps.length,
    max_steps: steps.length + 5,
    token_usage: {
      prompt_tokens: 100 * steps.length,
      completion_tokens: 10 * steps.length,
      cached_prompt_tokens: 0
    },
    started_at: 1700000000,
    elapsed: 12.5,
    steps,
    has_final_answer: true,
    final_answer: 42,
    answer_rewritten: false,
    answer_as_given: null,
    error: null,
    errors: [],
    ...extra
  };
}

/** Nothing that can run code: no script-like element, no handler, no javascript: URL. */
function expectInert(root: Element): void {
  expect(
    root.querySelectorAll(
      'script, iframe, frame, object, embed, style, link, meta, base, form'
    ).length
  ).toBe(0);
  for (const node of Array.from(root.querySelectorAll('*'))) {
    for (const attr of Array.from(node.attributes)) {
      expect(attr.name.toLowerCase().startsWith('on')).toBe(false);
      expect(attr.name.toLowerCase()).not.toBe('srcdoc');
      expect(attr.value.replace(/\s/g, '').toLowerCase()).not.toMatch(
        /^(javascript|vbscript):/
      );
    }
  }
}

afterEach(() => {
  document.body.replaceChildren();
  delete (window as any).pwned;
});

describe('the example runs', () => {
  it('has fixtures from the executed example notebooks', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(5);
  });

  it.each(EXAMPLES)('%s renders every part of the run', name => {
    const data = fixture(name);
    const v = view(data);
    const root = v.node;
    // Header: status badge, model, sandbox level, tokens, time; the task.
    const badge = root.querySelector('.sdl-badge');
    expect(badge?.className).toContain(`sdl-status-${data.status}`);
    expect(text(root.querySelector('.sdl-model'))).toBe(data.model_id);
    const meta = text(root.querySelector('.sdl-meta'));
    expect(meta).toContain('tokens in');
    expect(meta).toMatch(/\d+(\.\d)? s|\d+ ms/);
    expect(text(root.querySelector('.sdl-task'))).toBe(
      data.task.replace(/\s+/g, ' ').trim()
    );
    if (data.sandbox) {
      expect(text(root.querySelector('.sdl-sandbox'))).toContain(
        data.sandbox.split(' ')[0]
      );
    }
    // One block per step, titled as the static rendering titles it, all unfolded.
    const blocks = root.querySelectorAll('.sdl-step');
    expect(blocks.length).toBe(data.steps.length);
    const read = readRun(data);
    if (!read.ok) {
      throw new Error(read.reason);
    }
    read.run.steps.forEach((step, i) => {
      expect(text(blocks[i].querySelector('.sdl-step-title'))).toBe(
        stepTitle(step)
      );
      expect(
        blocks[i]
          .querySelector('.sdl-step-title')
          ?.getAttribute('aria-expanded')
      ).toBe('true');
    });
    // Code highlighted, as text.
    const codes = data.steps.filter((s: any) => s.code);
    const blocksOfCode = root.querySelectorAll('.sdl-code');
    expect(blocksOfCode.length).toBe(codes.length);
    codes.forEach((s: any, i: number) =>
      expect(blocksOfCode[i].textContent).toBe(s.code)
    );
    expect(
      root.querySelectorAll(
        '.sdl-code .sdl-tok-keyword, .sdl-code .sdl-tok-builtin'
      ).length
    ).toBeGreaterThan(0);
    // Figures: inline, visible without unfolding anything.
    const figures = data.steps.flatMap((s: any) =>
      (s.outputs ?? []).filter(
        (o: any) =>
          o.data && /^[A-Za-z0-9+/=\s]+$/.test(o.data['image/png'] ?? '')
      )
    );
    const images = root.querySelectorAll('img.sdl-image');
    expect(images.length).toBe(figures.length);
    images.forEach(img => {
      expect(img.getAttribute('src')).toMatch(/^data:image\/png;base64,iVBOR/);
      expect(img.closest('[hidden]')).toBeNull();
    });
    // Stream outputs and tracebacks as text.
    const printed = data.steps.flatMap((s: any) =>
      (s.outputs ?? []).filter((o: any) => o.output_type === 'stream')
    );
    for (const out of printed) {
      const wanted = (
        Array.isArray(out.text) ? out.text.join('') : out.text
      ).trim();
      if (wanted) {
        expect(text(root)).toContain(wanted.replace(/\s+/g, ' ').split(' ')[0]);
      }
    }
    // The final answer.
    if (data.has_final_answer) {
      const answer = root.querySelector('.sdl-final .sdl-answer');
      expect(answer).not.toBeNull();
      const expected =
        typeof data.final_answer === 'string'
          ? data.final_answer
          : String(data.final_answer);
      expect(answer?.textContent).toContain(expected.split('\n')[0]);
    }
    expect((root.querySelector('.sdl-problem') as HTMLElement).hidden).toBe(
      true
    );
    expect((root as any)[RUN_KEY].run_id).toBe(data.run_id);
    expectInert(root);
  });

  it('shows tool calls with their results and errors (the documented example)', () => {
    const v = view(fixture('docs-example.json'));
    const items = v.node.querySelectorAll('.sdl-tools li');
    expect(items.length).toBe(2);
    expect(text(items[0])).toBe(
      "lookup_unit('square', system='SI') → 'm²' (12 ms)"
    );
    expect(text(v.node.querySelector('.sdl-planning .sdl-thought'))).toContain(
      'Look up the unit'
    );
    // The image in the example is cut short ("iVBORw0KGgo…"): not an image, so its text.
    expect(v.node.querySelectorAll('img').length).toBe(0);
    expect(text(v.node)).toContain('<Figure size 640x480 with 1 Axes>');
    expect(text(v.node.querySelector('.sdl-traceback'))).toContain(
      'ZeroDivisionError: division by zero'
    );
    expect(text(v.node.querySelector('.sdl-step-error'))).toContain(
      'ZeroDivisionError'
    );
  });

  it('renders the same run through the MIME renderer, ranked above text/html', async () => {
    expect(rendererFactory.safe).toBe(true);
    expect(rendererFactory.mimeTypes).toEqual([RUN_MIMETYPE]);
    expect(RENDERER_RANK).toBeLessThan(50);
    const renderer = rendererFactory.createRenderer({
      mimeType: RUN_MIMETYPE,
      sanitizer,
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    } as any) as RunRenderer;
    const data = fixture('quickstart-2.json');
    await renderer.renderModel({
      data: { [RUN_MIMETYPE]: data },
      metadata: {},
      trusted: false
    } as any);
    expect(renderer.node.querySelectorAll('.sdl-step').length).toBe(
      data.steps.length
    );
    renderer.dispose();
  });
});

describe('hostile runs', () => {
  const attack =
    '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">' +
    '<a href="javascript:window.pwned=3">link</a><svg onload="window.pwned=4"><script>1</script></svg>' +
    '<iframe srcdoc="<script>window.pwned=5</script>"></iframe><style>body{display:none}</style>' +
    '<object data="javascript:1"></object><form action="javascript:1"><button>go</button></form>' +
    '<b onclick="window.pwned=6" onmouseover="x">bold</b><table><tr><td onclick="x">cell</td></tr></table>';

  function hostile(): any {
    return run(
      [
        {
          type: 'planning',
          plan: attack,
          finished: true,
          duration: 1,
          token_usage: {
            prompt_tokens: 1,
            completion_tokens: 1,
            cached_prompt_tokens: 0
          }
        },
        action(1, {
          thought: attack,
          code: `print("${attack.replace(/"/g, '\\"')}")`,
          outputs: [
            {
              output_type: 'display_data',
              metadata: {},
              data: { 'text/html': attack, 'text/plain': 'x' }
            },
            {
              output_type: 'execute_result',
              execution_count: 1,
              metadata: {},
              data: { 'text/html': [attack, '<p>more</p>'] }
            },
            { output_type: 'stream', name: 'stdout', text: attack },
            {
              output_type: 'display_data',
              metadata: {},
              data: {
                'image/svg+xml':
                  '<svg onload="alert(1)"><script>alert(1)</script></svg>'
              }
            },
            {
              output_type: 'display_data',
              metadata: {},
              data: { 'image/png': '"><script>alert(1)</script>' }
            },
            {
              output_type: 'error',
              ename: '<script>',
              evalue: attack,
              traceback: [attack]
            }
          ],
          tool_calls: [
            {
              name: '<img src=x onerror=alert(1)>',
              args: [attack],
              kwargs: { '<b>': attack },
              result_repr: attack,
              error: null,
              seconds: 0.1
            },
            {
              name: 'fails',
              args: [],
              kwargs: {},
              result_repr: '',
              error: attack,
              seconds: 0.1
            }
          ],
          observation: attack,
          error: attack
        })
      ],
      {
        task: attack,
        model_id: attack,
        sandbox: attack,
        final_answer: attack,
        errors: [{ step: 1, message: attack }],
        error: attack,
        status: 'error'
      }
    );
  }

  it('runs nothing and keeps the text of thoughts, code and outputs as text', () => {
    const v = view(hostile());
    expectInert(v.node);
    expect((window as any).pwned).toBeUndefined();
    // Plain-text fields show the markup as text.
    expect(v.node.querySelector('.sdl-task')?.textContent).toBe(attack);
    expect(v.node.querySelector('.sdl-action .sdl-thought')?.textContent).toBe(
      attack
    );
    expect(
      v.node.querySelector('.sdl-planning .sdl-thought')?.textContent
    ).toBe(attack);
    expect(v.node.querySelector('.sdl-code')?.textContent).toContain(
      '<script>'
    );
    // HTML outputs keep what is harmless: the bold text, the table.
    const html = v.node.querySelectorAll('.sdl-html');
    expect(html.length).toBe(2);
    expect(html[0].querySelector('table td')?.textContent).toBe('cell');
    expect(html[0].textContent).toContain('bold');
    // The SVG only as an <img> (where it cannot run anything); the bad PNG not at all.
    const imgs = Array.from(v.node.querySelectorAll('img.sdl-image'));
    expect(imgs.map(i => i.getAttribute('src')!.split(';')[0])).toEqual([
      'data:image/svg+xml'
    ]);
  });

  it('stays inert even when the sanitizer lets everything through', () => {
    const v = new RunView({
      sanitizer: { sanitize: (dirty: string) => dirty }
    });
    document.body.appendChild(v.node);
    v.update(hostile());
    expectInert(v.node);
    expect((window as any).pwned).toBeUndefined();
    expect(v.node.querySelector('.sdl-html table td')?.textContent).toBe(
      'cell'
    );
  });

  it('shows HTML outputs as text when there is no sanitizer', () => {
    const v = new RunView({ sanitizer: null });
    v.update(hostile());
    expectInert(v.node);
    expect(v.node.querySelector('.sdl-html')?.textContent).toContain(
      '<script>'
    );
  });

  it('makes Markdown cells that cannot become HTML', () => {
    const read = readRun(hostile());
    if (!read.ok) {
      throw new Error(read.reason);
    }
    const cells = runToCells(read.run);
    for (const cell of cells.filter(c => c.cell_type === 'markdown')) {
      // Fenced code blocks are shown as text; outside them, no markup at all.
      const prose = cell.source.replace(/^(`{3,})\n[\s\S]*?\n\1$/gm, '');
      expect(prose).not.toMatch(/<(script|img|svg|iframe|a )/i);
    }
  });
});

describe('long runs', () => {
  it('renders 10,000 steps in under a second, one page at a time', () => {
    const steps = Array.from({ length: 10000 }, (_, i) => action(i + 1));
    const data = run(steps);
    const started = performance.now();
    const v = view(data);
    const first = performance.now() - started;
    expect(v.node.querySelectorAll('.sdl-step').length).toBe(PAGE_SIZE);
    // The last page is shown (where a streaming run grows).
    expect(text(v.node.querySelector('.sdl-pager-label'))).toBe(
      'Steps 9,951–10,000 of 10,000'
    );
    expect(text(v.node.querySelector('.sdl-step-title'))).toContain(
      'Step 9951'
    );
    // One more step streams in: the view follows it, and the update is as fast.
    const again = performance.now();
    v.update(
      run([...steps, action(10001, { finished: false, parsed: false })])
    );
    const update = performance.now() - again;
    expect(text(v.node.querySelector('.sdl-pager-label'))).toBe(
      'Steps 10,001–10,001 of 10,001'
    );
    // Paging by keyboard-reachable buttons.
    const firstButton = v.node.querySelector(
      '.sdl-pager-button'
    ) as HTMLButtonElement;
    firstButton.click();
    expect(text(v.node.querySelector('.sdl-pager-label'))).toBe(
      'Steps 1–50 of 10,001'
    );
    expect(text(v.node.querySelector('.sdl-step-title'))).toContain('Step 1 ');
    console.log(
      `10,000 steps: first render ${first.toFixed(0)} ms, update ${update.toFixed(0)} ms`
    );
    expect(first).toBeLessThan(1000);
    expect(update).toBeLessThan(1000);
  });

  it('stays on the page the reader chose while new steps arrive', () => {
    const steps = Array.from({ length: 120 }, (_, i) => action(i + 1));
    const v = view(run(steps));
    v.showPage(0);
    v.update(run([...steps, action(121)]));
    expect(v.page).toBe(0);
    expect(text(v.node.querySelector('.sdl-step-title'))).toContain('Step 1 ');
  });
});

describe('updates while a run streams', () => {
  it('keeps the nodes of what did not change, and the fold state', () => {
    const png = fixture('quickstart-2.json').steps.find((s: any) =>
      s.outputs.some((o: any) => o.data?.['image/png'])
    );
    const first = action(1, { outputs: png.outputs });
    const streaming = action(2, {
      thought: 'Thought: I will',
      parsed: false,
      code: null,
      outputs: [],
      finished: false
    });
    const v = view(
      run([first, streaming], { status: 'running', has_final_answer: false })
    );
    const block = v.node.querySelector('.sdl-step');
    const image = v.node.querySelector('img');
    const header = v.node.querySelector('.sdl-header');
    expect(v.node.querySelector('.sdl-streaming')?.textContent).toBe(
      'Thought: I will'
    );
    // The reader folds step 1.
    (block!.querySelector('.sdl-step-title') as HTMLButtonElement).click();
    expect(block!.querySelector('.sdl-body')!.hasAttribute('hidden')).toBe(
      true
    );
    // More text streams into step 2, then step 2 gets its code and output.
    v.update(
      run([first, { ...streaming, thought: 'Thought: I will plot' }], {
        status: 'running',
        has_final_answer: false,
        elapsed: 20
      })
    );
    v.update(
      run([first, action(2)], {
        status: 'running',
        has_final_answer: false,
        elapsed: 30
      })
    );
    expect(v.node.querySelector('.sdl-step')).toBe(block);
    expect(v.node.querySelector('img')).toBe(image);
    expect(block!.querySelector('.sdl-body')!.hasAttribute('hidden')).toBe(
      true
    );
    expect(v.node.querySelector('.sdl-header')).not.toBe(header);
    expect(
      v.node.querySelectorAll('.sdl-step')[1].querySelector('.sdl-code')
        ?.textContent
    ).toBe(action(2).code);
    expect(v.node.querySelector('.sdl-streaming')).toBeNull();
    // The run ends.
    v.update(run([first, action(2)]));
    expect(text(v.node.querySelector('.sdl-badge'))).toBe('success');
    expect(text(v.node.querySelector('.sdl-final .sdl-answer'))).toBe('42');
  });
});

describe('malformed and truncated run data', () => {
  const cases: [string, unknown, RegExp][] = [
    ['nothing', undefined, /no run data/],
    ['null', null, /no run data/],
    [
      'cut-off JSON text',
      '{"version": 4, "task": "x", "steps": [{"type": "act',
      /malformed or cut off/
    ],
    ['text that is not JSON', 'hello', /malformed or cut off/],
    ['a list', [1, 2], /a list, not an object/],
    ['a number', 42, /a number, not an object/],
    ['an object of something else', { foo: 1 }, /none of the fields of a run/]
  ];

  it.each(cases)('%s: says so, and does not throw', (_, data, reason) => {
    const v = view(data);
    const problem = v.node.querySelector('.sdl-problem') as HTMLElement;
    expect(problem.hidden).toBe(false);
    expect(problem.getAttribute('role')).toBe('alert');
    expect(problem.textContent).toMatch(reason);
    expect(v.node.querySelectorAll('.sdl-step').length).toBe(0);
  });

  it('shows the readable part of a payload with broken fields', () => {
    const v = view({
      version: 4,
      task: 42,
      status: 'success',
      steps: [
        null,
        'x',
        { type: 'mystery' },
        action(4, {
          outputs: 'not a list',
          tool_calls: [null],
          token_usage: 'x'
        }),
        { type: 'action' }
      ],
      token_usage: null,
      errors: 'none',
      has_final_answer: true
    });
    expect((v.node.querySelector('.sdl-problem') as HTMLElement).hidden).toBe(
      true
    );
    expect(v.node.querySelectorAll('.sdl-step').length).toBe(5);
    expect(text(v.node.querySelector('.sdl-reader-notes'))).toContain(
      '3 steps could not be read'
    );
    expect(text(v.node)).toContain('step 3 has "mystery"');
    expect(text(v.node)).toContain('Step 4');
  });

  it('says when the payload is of a newer version, and shows it', () => {
    const v = view(run([action(1)], { version: 99, extra: 'field' }));
    expect(text(v.node.querySelector('.sdl-reader-notes'))).toContain(
      'payload version 99'
    );
    expect(v.node.querySelectorAll('.sdl-step').length).toBe(1);
  });

  it('keeps the last readable state when an update is broken', () => {
    const v = view(run([action(1)]));
    v.update('{"version": 4, "ste');
    expect(v.node.querySelectorAll('.sdl-step').length).toBe(1);
    expect(text(v.node.querySelector('.sdl-problem'))).toContain(
      'last readable state'
    );
    v.update(run([action(1), action(2)]));
    expect((v.node.querySelector('.sdl-problem') as HTMLElement).hidden).toBe(
      true
    );
    expect(v.node.querySelectorAll('.sdl-step').length).toBe(2);
  });
});

describe('runs as cells', () => {
  it('gives a code cell with its outputs for each step with code', () => {
    const data = fixture('data_analysis-2.json');
    const read = readRun(data);
    if (!read.ok) {
      throw new Error(read.reason);
    }
    const notebook = runToNotebook(read.run);
    const code = notebook.cells.filter(c => c.cell_type === 'code');
    expect(code.map(c => c.source)).toEqual(
      data.steps.filter((s: any) => s.code).map((s: any) => s.code)
    );
    expect(code[0].outputs).toEqual(data.steps[0].outputs);
    expect(notebook.cells[notebook.cells.length - 1].source).toContain('50.2');
    expect(notebook.nbformat).toBe(4);
  });
});

describe('the highlighter', () => {
  it('gives the source back exactly, markup included', () => {
    const code =
      'def f(x):\n    """Doc\n    string"""\n    return x ** 2  # <b>not bold</b>\n@tool\nclass A: s = f"{1}" + \'a\\\'b\'\n</script>';
    expect(
      tokenize(code)
        .map(t => t.text)
        .join('')
    ).toBe(code);
    const kinds = tokenize(code).map(t => `${t.kind}:${t.text}`);
    expect(kinds).toContain('keyword:def');
    expect(kinds).toContain('def:f');
    expect(kinds).toContain('comment:# <b>not bold</b>');
    expect(kinds).toContain('decorator:@tool');
    expect(kinds).toContain('string:"""Doc\n    string"""');
  });
});
