/**
 * The commands on a rendered run (`jupyterlab.extension` in package.json): in the command
 * palette (acting on the run in the active cell, else the notebook's last run) and in the
 * context menu of a run view (acting on that run, and on the step under the pointer).
 */

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { runCode, runToCells, runToNotebook } from './cells';
import type { IActionStep, IRun } from './payload';
import { copyText, IRunNode, NATIVE_CLASS, RUN_KEY } from './view';

export namespace CommandIDs {
  export const copyStepCode = 'smoldepot:copy-step-code';
  export const exportNotebook = 'smoldepot:export-run-notebook';
  export const insertCells = 'smoldepot:insert-run-cells';
  export const stopAgent = 'smoldepot:stop-agent';
  export const replayRun = 'smoldepot:replay-run';
}

const CATEGORY = 'Agent run';
const VIEW_SELECTOR = `.smoldepot-run.${NATIVE_CLASS}`;

/** A run on the page: its view's node, the run, the step pointed at, and where it is. */
export interface IRunTarget {
  node: IRunNode;
  run: IRun;
  stepIndex: number | null;
  panel: NotebookPanel | null;
  cellIndex: number | null;
}

function runOf(node: Element | null): IRunNode | null {
  const root = node?.closest(VIEW_SELECTOR) as IRunNode | null;
  return root && root[RUN_KEY] ? root : null;
}

function locate(
  tracker: INotebookTracker,
  node: HTMLElement
): { panel: NotebookPanel | null; cellIndex: number | null } {
  let found: { panel: NotebookPanel | null; cellIndex: number | null } = {
    panel: null,
    cellIndex: null
  };
  tracker.forEach(panel => {
    if (found.panel || !panel.node.contains(node)) {
      return;
    }
    const index = panel.content.widgets.findIndex(cell =>
      cell.node.contains(node)
    );
    found = { panel, cellIndex: index >= 0 ? index : null };
  });
  return found;
}

/** The step of `run` a command acts on: the one pointed at, else the last with code. */
export function stepFor(run: IRun, index: number | null): IActionStep | null {
  if (index !== null) {
    const step = run.steps[index];
    if (step && step.type === 'action') {
      return step;
    }
  }
  for (let i = run.steps.length - 1; i >= 0; i--) {
    const step = run.steps[i];
    if (step.type === 'action' && step.code) {
      return step;
    }
  }
  return null;
}

function recordPath(run: IRun): string {
  return `.smoldepot/runs/${run.run_id}.jsonl`;
}

async function freePath(
  app: JupyterFrontEnd,
  folder: string,
  stem: string
): Promise<string> {
  const contents = app.serviceManager.contents;
  for (let n = 0; n < 1000; n++) {
    const name = n ? `${stem}-${n}.ipynb` : `${stem}.ipynb`;
    const path = folder ? `${folder}/${name}` : name;
    try {
      await contents.get(path, { content: false });
    } catch {
      return path;
    }
  }
  throw new Error(`no free file name for ${stem}.ipynb in ${folder || '/'}`);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'smoldepot-jupyter:commands',
  description:
    'Commands on a rendered agent run: copy step code, export, insert as cells, stop, replay.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    /** The run a command acts on: under the context menu, else in the active cell. */
    const target = (): IRunTarget | null => {
      const hit = app.contextMenuHitTest(node =>
        node.classList.contains(NATIVE_CLASS)
      );
      let node: IRunNode | null = hit ? runOf(hit) : null;
      let stepIndex: number | null = null;
      if (node) {
        const stepNode = app.contextMenuHitTest(n =>
          n.classList.contains('sdl-step')
        );
        const raw = stepNode?.dataset.stepIndex;
        stepIndex = raw !== undefined ? Number(raw) : null;
      } else {
        const panel = tracker.currentWidget;
        if (!panel) {
          return null;
        }
        const active = panel.content.activeCell;
        const inCell = active
          ? Array.from(active.node.querySelectorAll(VIEW_SELECTOR))
          : [];
        const all = inCell.length
          ? inCell
          : Array.from(panel.content.node.querySelectorAll(VIEW_SELECTOR));
        node = runOf(all.length ? all[all.length - 1] : null);
      }
      if (!node || !node[RUN_KEY]) {
        return null;
      }
      return { node, run: node[RUN_KEY], stepIndex, ...locate(tracker, node) };
    };

    app.commands.addCommand(CommandIDs.copyStepCode, {
      label: 'Copy Step Code',
      caption:
        "Copy the code of the agent step under the pointer (from the palette: the run's code)",
      isEnabled: () => !!target(),
      execute: async () => {
        const t = target();
        if (!t) {
          return;
        }
        const step = t.stepIndex !== null ? stepFor(t.run, t.stepIndex) : null;
        const code = step?.code ?? runCode(t.run);
        await copyText(code);
        Notification.info(
          step
            ? `Copied the code of step ${step.step_number}.`
            : "Copied the run's code.",
          { autoClose: 2000 }
        );
      }
    });

    app.commands.addCommand(CommandIDs.exportNotebook, {
      label: 'Export Agent Run as Notebook',
      caption:
        'Save the run (task, thoughts, code and outputs) as a new notebook beside this one and open it',
      isEnabled: () => !!target(),
      execute: async () => {
        const t = target();
        if (!t) {
          return;
        }
        const folder = t.panel
          ? t.panel.context.path.split('/').slice(0, -1).join('/')
          : '';
        const path = await freePath(app, folder, t.run.run_id ?? 'agent-run');
        await app.serviceManager.contents.save(path, {
          type: 'notebook',
          format: 'json',
          content: runToNotebook(t.run)
        });
        await app.commands.execute('docmanager:open', { path });
        return path;
      }
    });

    app.commands.addCommand(CommandIDs.insertCells, {
      label: 'Insert Agent Run as Cells',
      caption:
        "Insert the run's thoughts (Markdown) and code with its outputs (code cells) below its cell",
      isEnabled: () => {
        const t = target();
        return !!t && !!t.panel && !t.panel.content.model?.readOnly;
      },
      execute: () => {
        const t = target();
        const model = t?.panel?.content.model;
        if (!t || !model) {
          return;
        }
        const at = (t.cellIndex ?? model.cells.length - 1) + 1;
        model.sharedModel.insertCells(at, runToCells(t.run) as any);
      }
    });

    app.commands.addCommand(CommandIDs.stopAgent, {
      label: 'Stop Agent',
      caption:
        "Stop the running agent: interrupts the notebook's kernel, as Kernel → Interrupt does",
      isEnabled: () => {
        const panel = target()?.panel ?? tracker.currentWidget;
        return !!panel?.sessionContext.session?.kernel;
      },
      execute: async () => {
        const panel = target()?.panel ?? tracker.currentWidget;
        const kernel = panel?.sessionContext.session?.kernel;
        if (kernel) {
          await kernel.interrupt();
        }
      }
    });

    app.commands.addCommand(CommandIDs.replayRun, {
      label: 'Replay Agent Run',
      caption:
        'Replay the run from its record (.smoldepot/runs/<run id>.jsonl) in a new cell below, with real execution and no model',
      isEnabled: () => {
        const t = target();
        return (
          !!t &&
          !!t.run.run_id &&
          !!t.panel?.sessionContext.session?.kernel &&
          !t.panel.content.model?.readOnly
        );
      },
      execute: async () => {
        const t = target();
        const panel = t?.panel;
        const model = panel?.content.model;
        const kernel = panel?.sessionContext.session?.kernel;
        if (!t || !t.run.run_id || !panel || !model || !kernel) {
          return;
        }
        // The magics may not be loaded in this kernel (a restarted one): load them quietly.
        await kernel.requestExecute({
          code: "get_ipython().extension_manager.load_extension('smoldepot_jupyter')",
          silent: true,
          store_history: false
        }).done;
        const at = (t.cellIndex ?? model.cells.length - 1) + 1;
        model.sharedModel.insertCells(at, [
          {
            cell_type: 'code',
            source: `%agent replay ${recordPath(t.run)} --delay 0.03`,
            metadata: {}
          }
        ]);
        panel.content.activeCellIndex = at;
        await app.commands.execute('notebook:run-cell');
      }
    });

    const commands = [
      CommandIDs.copyStepCode,
      CommandIDs.insertCells,
      CommandIDs.exportNotebook,
      CommandIDs.replayRun,
      CommandIDs.stopAgent
    ];
    commands.forEach((command, rank) => {
      app.contextMenu.addItem({ command, selector: VIEW_SELECTOR, rank });
      palette?.addItem({ command, category: CATEGORY });
    });
  }
};

export default plugin;
