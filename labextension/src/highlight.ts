/**
 * A small Python highlighter: a regular-expression tokenizer whose tokens become text nodes
 * and `<span>`s made with `textContent`, never markup, so code can hold anything. Colours
 * come from JupyterLab's editor theme variables (style/base.css), as in a code cell.
 */

const KEYWORDS = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
  'match',
  'case'
]);

const BUILTINS = new Set([
  'abs',
  'all',
  'any',
  'bool',
  'dict',
  'dir',
  'enumerate',
  'filter',
  'float',
  'format',
  'getattr',
  'hasattr',
  'input',
  'int',
  'isinstance',
  'iter',
  'len',
  'list',
  'map',
  'max',
  'min',
  'next',
  'object',
  'open',
  'print',
  'range',
  'repr',
  'reversed',
  'round',
  'set',
  'setattr',
  'sorted',
  'str',
  'sum',
  'super',
  'tuple',
  'type',
  'zip',
  'self',
  'Exception',
  'ValueError',
  'TypeError',
  'KeyError',
  'IndexError'
]);

/** The token kinds, each a CSS class `sdl-tok-<kind>`. */
export type TokenKind =
  | 'comment'
  | 'string'
  | 'number'
  | 'keyword'
  | 'builtin'
  | 'def'
  | 'decorator'
  | 'operator'
  | 'text';

export interface IToken {
  kind: TokenKind;
  text: string;
}

const TOKEN = new RegExp(
  [
    '(#[^\\n]*)', // 1 comment
    '((?:[rRbBuUfF]{1,2})?(?:\'\'\'[\\s\\S]*?(?:\'\'\'|$)|"""[\\s\\S]*?(?:"""|$)|\'(?:[^\'\\\\\\n]|\\\\.)*(?:\'|$)|"(?:[^"\\\\\\n]|\\\\.)*(?:"|$)))', // 2 string
    '(\\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\\d[\\d_]*\\.?[\\d_]*|\\.\\d[\\d_]*)(?:[eE][+-]?\\d+)?j?)\\b)', // 3 number
    '(@[A-Za-z_][\\w.]*)', // 4 decorator
    '([A-Za-z_]\\w*)', // 5 name
    '([-+*/%=<>!&|^~:]+|[()[\\]{}.,;])' // 6 operator or punctuation
  ].join('|'),
  'g'
);

/** Python source as tokens; their texts joined give the source back exactly. */
export function tokenize(code: string): IToken[] {
  const tokens: IToken[] = [];
  let last = 0;
  let previousName = '';
  const push = (kind: TokenKind, text: string) => {
    const top = tokens[tokens.length - 1];
    if (top && top.kind === kind && kind === 'text') {
      top.text += text;
    } else {
      tokens.push({ kind, text });
    }
  };
  TOKEN.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = TOKEN.exec(code)) !== null) {
    if (match[0].length === 0) {
      TOKEN.lastIndex++;
      continue;
    }
    if (match.index > last) {
      push('text', code.slice(last, match.index));
    }
    const [text, comment, string, number, decorator, name] = match;
    if (comment !== undefined) {
      push('comment', text);
    } else if (string !== undefined) {
      push('string', text);
    } else if (number !== undefined) {
      push('number', text);
    } else if (decorator !== undefined) {
      push('decorator', text);
    } else if (name !== undefined) {
      if (previousName === 'def' || previousName === 'class') {
        push('def', text);
      } else if (KEYWORDS.has(text)) {
        push('keyword', text);
      } else if (BUILTINS.has(text)) {
        push('builtin', text);
      } else {
        push('text', text);
      }
    } else {
      push(
        text === '.' || /^[()[\]{},;:]$/.test(text) ? 'text' : 'operator',
        text
      );
    }
    previousName = name ?? '';
    last = TOKEN.lastIndex;
  }
  if (last < code.length) {
    push('text', code.slice(last));
  }
  return tokens;
}

/** Highlighted code as DOM nodes (text nodes and spans; no markup is parsed). */
export function highlight(
  code: string,
  doc: Document = document
): DocumentFragment {
  const fragment = doc.createDocumentFragment();
  for (const token of tokenize(code)) {
    if (token.kind === 'text') {
      fragment.appendChild(doc.createTextNode(token.text));
    } else {
      const span = doc.createElement('span');
      span.className = `sdl-tok-${token.kind}`;
      span.textContent = token.text;
      fragment.appendChild(span);
    }
  }
  return fragment;
}
