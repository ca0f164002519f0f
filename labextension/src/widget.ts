/**
 * The MIME renderer of the run JSON: a Lumino widget around a `RunView`. JupyterLab calls
 * `renderModel` again on the same renderer for every update of the display while the run
 * streams, so the view is updated in place, never rebuilt.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { RUN_MIMETYPE } from './payload';
import { RunView } from './view';

/** The class of the renderer widget's node. */
export const RENDERER_CLASS = 'jp-SmoldepotRunRenderer';

export class RunRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass(RENDERER_CLASS);
    this._view = new RunView({ sanitizer: options.sanitizer ?? null });
    this.node.appendChild(this._view.node);
  }

  /** The view this renderer draws into. */
  get view(): RunView {
    return this._view;
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._view.update(model.data[this._mimeType]);
    return Promise.resolve();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._view.dispose();
    super.dispose();
  }

  private _mimeType: string;
  private _view: RunView;
}

/**
 * Preferred over every other mimetype of the bundle (text/html is 50 and markdown 60) but
 * after the live widget view (ipywidgets' rank is 0), so a running cell shows the widget
 * where a widget manager has it, and this everywhere else.
 */
export const RENDERER_RANK = 10;

export const rendererFactory: IRenderMime.IRendererFactory = {
  // Safe: nothing it shows can run code (HTML goes through the sanitizer), so it is also used
  // for the outputs of untrusted notebooks.
  safe: true,
  mimeTypes: [RUN_MIMETYPE],
  defaultRank: RENDERER_RANK,
  createRenderer: options => new RunRenderer(options)
};
