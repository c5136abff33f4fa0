import type { Command, Option } from 'commander';

// Shell completion scripts, generated from the commander program itself so
// they can never fall behind a command or an option. Each script works out
// the command path typed so far (`workers drain`), skipping options and
// their values, then offers that command's subcommands, argument choices or
// options; after an option that takes a value, its choices or file names.

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface OptionSpec {
  flags: string[];
  description: string;
  takesValue: boolean;
  choices: readonly string[];
}

/** A command of the program, or the program itself (path ""). */
interface CommandNode {
  /** the canonical words that lead here: "", "list", "workers drain" */
  path: string;
  names: string[];
  description: string;
  children: CommandNode[];
  /** its own options; the program's (global) ones are valid everywhere too */
  options: OptionSpec[];
  /** the choices of its first argument, e.g. bash, zsh and fish */
  argumentChoices: readonly string[];
}

interface Tree {
  root: CommandNode;
  /** the program's options and --help: commander takes them before or after any command */
  globals: OptionSpec[];
}

// Only these reach a script unquoted: command names, flags and choices.
const WORD = /^-{0,2}[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function word(text: string): string {
  if (!WORD.test(text)) throw new Error(`cannot complete ${JSON.stringify(text)}: not a plain word`);
  return text;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

const HELP_OPTION: OptionSpec = { flags: ['-h', '--help'], description: 'display help for command', takesValue: false, choices: [] };

function optionSpec(o: Option): OptionSpec {
  return {
    flags: [o.short, o.long].filter((f): f is string => f !== undefined).map(word),
    description: oneLine(o.description),
    takesValue: o.required || o.optional,
    choices: (o.argChoices ?? []).map(word),
  };
}

function commandTree(program: Command): Tree {
  const node = (cmd: Command, path: string, isRoot: boolean): CommandNode => ({
    path,
    names: [cmd.name(), ...cmd.aliases()].map(word),
    description: oneLine(cmd.description()),
    children: cmd.commands.map((c) => node(c, path === '' ? c.name() : `${path} ${c.name()}`, false)),
    options: isRoot ? [] : cmd.options.filter((o) => !o.hidden).map(optionSpec),
    argumentChoices: (cmd.registeredArguments[0]?.argChoices ?? []).map(word),
  });
  return { root: node(program, '', true), globals: [...program.options.filter((o) => !o.hidden).map(optionSpec), HELP_OPTION] };
}

function allNodes(root: CommandNode): CommandNode[] {
  return [root, ...root.children.flatMap(allNodes)];
}

/** Every "path typed so far + one more word" that leads to a command, and the command's canonical path. */
function transitions(root: CommandNode): [string, string][] {
  return allNodes(root).flatMap((parent) =>
    parent.children.flatMap((child) =>
      child.names.map((name): [string, string] => [parent.path === '' ? name : `${parent.path} ${name}`, child.path]),
    ),
  );
}

/**
 * "path|flag" for every option that takes a value, and that option; a
 * global option's pattern matches under any path ("*|--master").
 */
function valueOptions({ root, globals }: Tree, anyPath: string): [string, OptionSpec][] {
  const pairs = (path: string, options: OptionSpec[]) =>
    options.filter((o) => o.takesValue).flatMap((o) => o.flags.map((f): [string, OptionSpec] => [`${path}|${f}`, o]));
  return [...allNodes(root).flatMap((n) => pairs(n.path, n.options)), ...pairs(anyPath, globals)];
}

function subcommandWords(n: CommandNode): string[] {
  return [...n.children.flatMap((c) => c.names), ...n.argumentChoices];
}

function optionWords(options: OptionSpec[]): string[] {
  return options.flatMap((o) => o.flags);
}

/** A completion script for `shell` that covers every command, subcommand and option of `program`. */
export function completionScript(program: Command, shell: Shell): string {
  const tree = commandTree(program);
  const name = word(program.name());
  switch (shell) {
    case 'bash':
      return bashScript(name, tree);
    case 'zsh':
      return zshScript(name, tree);
    case 'fish':
      return fishScript(name, tree);
  }
}

/** Case arms: each pattern is plain words and "|", quoted but for a leading "*" (any path). */
function caseArms(pairs: [string, string][], indent: string, open = ''): string {
  return pairs
    .map(([pattern, body]) => `${indent}${open}${pattern.startsWith('*') ? `*'${pattern.slice(1)}'` : `'${pattern}'`}) ${body} ;;`)
    .join('\n');
}

type CaseArms = (pairs: [string, string][], indent: string) => string;

/** bash and zsh: a function telling whether option $2 takes a value where the command path is $1. */
function takesValueFunction(fn: string, values: [string, OptionSpec][], cases: CaseArms): string {
  return `# Whether option $2 takes a value where the command path is $1.
${fn}_takes_value() {
  case "$1|$2" in
${cases(values.map(([key]) => [key, 'return 0']), '    ')}
  esac
  return 1
}`;
}

/**
 * bash and zsh: sets $cmdpath to the command path of the words before the
 * one being completed, skipping options and the values of those that take one.
 */
function commandPathLoop(fn: string, root: CommandNode, cases: CaseArms, shell: { words: string; first: number; current: string }): string {
  return `  for ((i = ${shell.first}; i < ${shell.current}; i++)); do
    word="\${${shell.words}[i]}"
    if (( skip )); then skip=0; continue; fi
    if [[ $word == -* ]]; then
      [[ $word != *=* ]] && ${fn}_takes_value "$cmdpath" "$word" && skip=1
      continue
    fi
    next="\${cmdpath:+$cmdpath }$word"
    case "$next" in
${cases(transitions(root).map(([typed, path]) => [typed, `cmdpath='${path}'`]), '      ')}
    esac
  done`;
}

function bashScript(name: string, tree: Tree): string {
  const { root, globals } = tree;
  const fn = `_${name.replace(/-/g, '_')}`;
  const values = valueOptions(tree, '*');
  const cases: CaseArms = (pairs, indent) => caseArms(pairs, indent);
  return `# bash completion for ${name}, generated by \`${name} completion bash\`. Load it with:
#   source <(${name} completion bash)
# or save it as ~/.local/share/bash-completion/completions/${name}.

${takesValueFunction(fn, values, cases)}

${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath="" word next i skip=0
  (( COMP_CWORD > 1 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
${commandPathLoop(fn, root, cases, { words: 'COMP_WORDS', first: 1, current: 'COMP_CWORD' })}
  if [[ $prev == -* ]] && ${fn}_takes_value "$cmdpath" "$prev"; then
    case "$cmdpath|$prev" in
${cases(
  values.filter(([, o]) => o.choices.length > 0).map(([key, o]) => [key, `COMPREPLY=($(compgen -W '${o.choices.join(' ')}' -- "$cur")); return`]),
  '      ',
)}
    esac
    # A file, or text only the user knows: bash's default completion.
    COMPREPLY=()
    return
  fi
  local candidates=""
  if [[ $cur == -* ]]; then
    case "$cmdpath" in
${cases(allNodes(root).filter((n) => n.options.length > 0).map((n) => [n.path, `candidates='${optionWords(n.options).join(' ')}'`]), '      ')}
    esac
    candidates+=' ${optionWords(globals).join(' ')}'
  else
    case "$cmdpath" in
${cases(
  allNodes(root)
    .filter((n) => subcommandWords(n).length > 0)
    .map((n) => [n.path, `candidates='${subcommandWords(n).join(' ')}'`]),
  '      ',
)}
    esac
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}

complete -o default -F ${fn} ${name}
`;
}

/** Single-quoted for zsh and bash: ' becomes '\\''. */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function zshScript(name: string, tree: Tree): string {
  const { root, globals } = tree;
  const fn = `_${name.replace(/-/g, '_')}`;
  const values = valueOptions(tree, '*');
  const cases: CaseArms = (pairs, indent) => caseArms(pairs, indent, '(');
  // "name:description" items for _describe; names are plain words, so only descriptions need quoting.
  const items = (pairs: [string, string][]) => pairs.map(([w, d]) => shQuote(`${w}:${d}`)).join(' ');
  const optionItems = (options: OptionSpec[]) => items(options.flatMap((o) => o.flags.map((f): [string, string] => [f, o.description])));
  const subcommandItems = (n: CommandNode) =>
    items([
      ...n.children.flatMap((c) => c.names.map((w): [string, string] => [w, c.description])),
      ...n.argumentChoices.map((w): [string, string] => [w, '']),
    ]);
  return `#compdef ${name}
# zsh completion for ${name}, generated by \`${name} completion zsh\`. Load it with:
#   autoload -U compinit && compinit; source <(${name} completion zsh)
# or save it as _${name} in a folder of $fpath.

${takesValueFunction(fn, values, cases)}

${fn}() {
  local cmdpath="" word next prev="\${words[CURRENT-1]}" i skip=0
  local -a items
${commandPathLoop(fn, root, cases, { words: 'words', first: 2, current: 'CURRENT' })}
  if (( CURRENT > 2 )) && [[ $prev == -* ]] && ${fn}_takes_value "$cmdpath" "$prev"; then
    case "$cmdpath|$prev" in
${cases(
  values.filter(([, o]) => o.choices.length > 0).map(([key, o]) => [key, `compadd -- ${o.choices.join(' ')}; return`]),
  '      ',
)}
    esac
    _files
    return
  fi
  if [[ \${words[CURRENT]} == -* ]]; then
    case "$cmdpath" in
${cases(allNodes(root).filter((n) => n.options.length > 0).map((n) => [n.path, `items=(${optionItems(n.options)})`]), '      ')}
    esac
    items+=(${optionItems(globals)})
    _describe -t options 'option' items
    return
  fi
  case "$cmdpath" in
${cases(
  allNodes(root)
    .filter((n) => subcommandWords(n).length > 0)
    .map((n) => [n.path, `items=(${subcommandItems(n)})`]),
  '    ',
)}
  esac
  if (( \${#items} )); then
    _describe -t commands 'command' items
  else
    _files
  fi
}

if [[ "$funcstack[1]" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${name}
fi
`;
}

/** Single-quoted for fish: \\ and ' are escaped. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function fishScript(name: string, tree: Tree): string {
  const { root, globals } = tree;
  const fn = `__${name.replace(/-/g, '_')}`;
  const values = valueOptions(tree, '*');
  const optionLine = (condition: string, o: OptionSpec) => {
    const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
    const value = o.takesValue ? (o.choices.length > 0 ? ` -x -a ${fishQuote(o.choices.join(' '))}` : ' -r') : '';
    return `complete -c ${name}${condition} ${flags}${value} -d ${fishQuote(o.description)}`;
  };
  const lines: string[] = globals.map((o) => optionLine('', o));
  for (const n of allNodes(root)) {
    const at = `-n ${fishQuote(`${fn}_at ${fishQuote(n.path)}`)}`;
    // Where a subcommand is expected, file names are no help.
    if (n.children.length > 0) lines.push(`complete -c ${name} ${at} -f`);
    for (const child of n.children) {
      for (const w of child.names) lines.push(`complete -c ${name} ${at} -a ${w} -d ${fishQuote(child.description)}`);
    }
    if (n.argumentChoices.length > 0) lines.push(`complete -c ${name} ${at} -a ${fishQuote(n.argumentChoices.join(' '))}`);
    for (const o of n.options) lines.push(optionLine(` ${at}`, o));
  }
  const switchCases = (pairs: [string, string][], indent: string) =>
    // A quoted "*" is still a wildcard to fish's switch (unquoted, it would glob file names).
    pairs.map(([pattern, body]) => `${indent}case ${fishQuote(pattern)}\n${indent}    ${body}`).join('\n');
  return `# fish completion for ${name}, generated by \`${name} completion fish\`. Load it with:
#   ${name} completion fish | source
# or save it as ~/.config/fish/completions/${name}.fish.

# The command path typed so far ("", "list", "workers drain"), skipping options and their values.
function ${fn}_path
    set -l tokens (commandline -opc)
    set -l cmdpath ''
    set -l skip 0
    for word in $tokens[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $word
            switch "$cmdpath|$word"
${switchCases(values.map(([key]) => [key, 'set skip 1']), '                ')}
            end
            continue
        end
        set -l next $word
        if test -n "$cmdpath"
            set next "$cmdpath $word"
        end
        switch $next
${switchCases(transitions(root).map(([typed, path]) => [typed, `set cmdpath ${fishQuote(path)}`]), '            ')}
        end
    end
    echo $cmdpath
end

function ${fn}_at
    set -l cmdpath (${fn}_path)
    test "$cmdpath" = "$argv[1]"
end

complete -c ${name} -e
${lines.join('\n')}
`;
}
