/**
 * The MIME renderer extension (`jupyterlab.mimeExtension` in package.json): registers the
 * renderer of `application/vnd.smoldepot.run+json`.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { RENDERER_RANK, rendererFactory } from './widget';

const extension: IRenderMime.IExtension = {
  id: 'smoldepot-jupyter:run-renderer',
  description:
    'Renders smoldepot agent runs (application/vnd.smoldepot.run+json).',
  rendererFactory,
  rank: RENDERER_RANK,
  dataType: 'json'
};

export default extension;
