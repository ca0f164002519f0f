/**
 * One nbformat output as DOM: stream text and tracebacks as text, images as `<img>` with a
 * data URI (aspect ratio kept by CSS), HTML (tables included) through the app's sanitizer,
 * then parsed inert and cleaned once more before it is adopted into the page.
 */

import type { IOutput } from './payload';
import { asText, renderTerminal, stripAnsi } from './text';

/** What the renderer needs of `IRenderMime.ISanitizer`. */
export interface ISanitizerLike {
  sanitize(dirty: string, options?: unknown): string;
}

const IMAGES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const BASE64 = /^[A-Za-z0-9+/=]*$/;

/** Elements that never survive into the view, whatever the sanitizer let through. */
const FORBIDDEN = new Set([
  'script',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'base',
  'link',
  'meta',
  'style',
  'form',
  'template',
  'noscript'
]);
const URL_ATTRIBUTES = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'xlink:href',
  'background',
  'poster',
  'srcset',
  'data'
]);

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function pre(text: string, className = ''): HTMLPreElement {
  return element('pre', `sdl-pre ${className}`.trim(), text);
}

function isSafeUrl(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  const v = value.replace(/[\s\u0000-\u001f]/g, '').toLowerCase();
  if (v.startsWith('javascript:') || v.startsWith('vbscript:')) {
    return false;
  }
  if (v.startsWith('data:')) {
    return /^data:image\/(png|jpeg|gif|webp);/.test(v);
  }
  return true;
}

/** Remove what can run code from a node tree (in place). */
export function scrub(root: ParentNode): void {
  const all = Array.from(root.querySelectorAll('*'));
  for (const node of all) {
    const tag = node.tagName.toLowerCase();
    if (FORBIDDEN.has(tag) || tag.includes(':')) {
      node.remove();
      continue;
    }
    for (const attr of Array.from(node.attributes)) {
      const name = attr.name.toLowerCase();
      if (
        name.startsWith('on') ||
        name === 'srcdoc' ||
        (URL_ATTRIBUTES.has(name) && !isSafeUrl(attr.value))
      ) {
        node.removeAttribute(attr.name);
      }
    }
    if (tag === 'a') {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  }
}

/**
 * HTML made safe: the app's sanitizer first, then parsed in an inert document (nothing runs,
 * nothing loads) and scrubbed again, then adopted. Without a sanitizer the HTML is shown as
 * text.
 */
export function safeHtml(
  html: string,
  sanitizer: ISanitizerLike | null
): HTMLElement {
  const box = element('div', 'sdl-html jp-RenderedHTMLCommon');
  if (!sanitizer) {
    box.appendChild(pre(html));
    return box;
  }
  const clean = sanitizer.sanitize(html);
  const inert = new DOMParser().parseFromString(
    `<!DOCTYPE html><html><body>${clean}</body></html>`,
    'text/html'
  );
  scrub(inert.body);
  for (const child of Array.from(inert.body.childNodes)) {
    box.appendChild(document.adoptNode(child));
  }
  return box;
}

function positive(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
    ? value
    : null;
}

function image(
  mime: string,
  payload: string,
  metadata: Record<string, unknown>
): HTMLElement | null {
  const data = payload.replace(/\s+/g, '');
  if (!data || !BASE64.test(data)) {
    return null;
  }
  const img = element('img', 'sdl-image');
  img.alt = `${mime} output`;
  img.src = `data:${mime};base64,${data}`;
  const size = metadata[mime];
  if (typeof size === 'object' && size !== null) {
    const width = positive((size as any).width);
    const height = positive((size as any).height);
    if (width) {
      img.width = width;
    }
    if (height) {
      img.height = height;
    }
  }
  return img;
}

function utf8Base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function rich(
  data: Record<string, unknown>,
  metadata: Record<string, unknown>,
  sanitizer: ISanitizerLike | null
): HTMLElement {
  if ('text/html' in data) {
    return safeHtml(asText(data['text/html']), sanitizer);
  }
  for (const mime of IMAGES) {
    if (mime in data) {
      const img = image(mime, asText(data[mime]), metadata);
      if (img) {
        return img;
      }
    }
  }
  if ('image/svg+xml' in data) {
    // As an <img>, an SVG cannot run scripts or load anything.
    const img = element('img', 'sdl-image');
    img.alt = 'image/svg+xml output';
    img.src = `data:image/svg+xml;base64,${utf8Base64(asText(data['image/svg+xml']))}`;
    return img;
  }
  if ('text/plain' in data) {
    return pre(stripAnsi(asText(data['text/plain'])));
  }
  for (const mime of ['text/markdown', 'text/latex']) {
    if (mime in data) {
      return pre(asText(data[mime]));
    }
  }
  if ('application/json' in data) {
    return pre(JSON.stringify(data['application/json'], null, 2) ?? '');
  }
  const kinds = Object.keys(data).sort().join(', ') || 'empty';
  return pre(`[${kinds} output]`, 'sdl-muted');
}

/** One output as an element, or null when it shows nothing (an empty stream). */
export function renderOutput(
  output: IOutput,
  sanitizer: ISanitizerLike | null
): HTMLElement | null {
  const kind = output.output_type;
  if (kind === 'stream') {
    const text = renderTerminal(stripAnsi(asText(output.text)));
    if (!text) {
      return null;
    }
    return pre(
      text,
      output.name === 'stderr' ? 'sdl-stream sdl-stderr' : 'sdl-stream'
    );
  }
  if (kind === 'error') {
    const traceback = stripAnsi(
      (Array.isArray(output.traceback) ? output.traceback : [])
        .map(line => asText(line))
        .join('\n')
    );
    const text =
      traceback ||
      `${asText(output.ename) || 'Error'}: ${asText(output.evalue)}`;
    return pre(text, 'sdl-traceback');
  }
  if (kind === 'execute_result' || kind === 'display_data') {
    const data =
      typeof output.data === 'object' && output.data !== null
        ? output.data
        : {};
    const metadata =
      typeof output.metadata === 'object' && output.metadata !== null
        ? output.metadata
        : {};
    return rich(data, metadata, sanitizer);
  }
  return pre(`[${String(kind)} output]`, 'sdl-muted');
}
