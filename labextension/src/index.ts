/**
 * smoldepot-jupyter: renders smoldepot agent runs (`application/vnd.smoldepot.run+json`)
 * natively in JupyterLab, and adds commands on them. The MIME renderer is `./mime`, the
 * commands are `./plugin` (both named in package.json's `jupyterlab` section).
 */

export { RUN_MIMETYPE, SCHEMA_VERSION, readRun } from './payload';
export type { IRun, ReadResult, Step } from './payload';
export { RunView, PAGE_SIZE, ROOT_CLASS, NATIVE_CLASS, RUN_KEY } from './view';
export { RunRenderer, rendererFactory, RENDERER_RANK } from './widget';
export { runToCells, runToNotebook, runCode } from './cells';
export { highlight, tokenize } from './highlight';
