/**
 * Run an ad-hoc shell command as root on a kernel with IPVS (a throwaway qemu VM, or this host when
 * it has IPVS itself), print what it prints, exit with its status.
 *
 *   node dist/test/kernel/vm-cli.js [--vm|--direct] [--timeout 300] [--mem 2048] [--cpus 2]
 *                                   [--out DIR] [--console] -- <shell command>
 */
import { kernelSupport, runInVm, runDirect, type RunOptions } from './vm.js';

function usage(msg?: string): never {
  if (msg) process.stderr.write(`vm-cli: ${msg}\n`);
  process.stderr.write(
    'usage: node dist/test/kernel/vm-cli.js [--vm|--direct] [--timeout SECONDS] [--mem MB] [--cpus N]\n' +
      '                                       [--out DIR] [--console] -- <shell command>\n',
  );
  process.exit(2);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // `node --test dist/test/` runs every .js under dist/test, this CLI included: do nothing then.
  if (argv.length === 0 && process.env.NODE_TEST_CONTEXT) return;
  const sep = argv.indexOf('--');
  const flags = sep >= 0 ? argv.slice(0, sep) : [];
  const command = (sep >= 0 ? argv.slice(sep + 1) : argv).join(' ');
  if (!command.trim()) usage('no command given');

  let mode: 'vm' | 'direct' | undefined;
  let showConsole = false;
  const opts: RunOptions = { script: command + '\n', timeoutMs: 300_000 };
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i]!;
    const value = (): string => flags[++i] ?? usage(`${f} needs a value`);
    const num = (): number => {
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0) usage(`${f} needs a positive number`);
      return v;
    };
    switch (f) {
      case '--vm': mode = 'vm'; break;
      case '--direct': mode = 'direct'; break;
      case '--timeout': opts.timeoutMs = num() * 1000; break;
      case '--mem': opts.memoryMb = num(); break;
      case '--cpus': opts.cpus = num(); break;
      case '--out': opts.outDir = value(); break;
      case '--console': showConsole = true; break;
      case '-h': case '--help': usage();
      default: usage(`unknown flag ${f}`);
    }
  }
  if (mode === undefined) {
    const s = kernelSupport();
    if (!s.ok) {
      process.stderr.write(`vm-cli: no kernel with IPVS available: ${s.reason}\n`);
      process.exit(3);
    }
    mode = s.mode;
  }
  opts.onLine = (line) => process.stdout.write(line + '\n');
  const result = await (mode === 'vm' ? runInVm(opts) : runDirect(opts));
  if (showConsole) process.stderr.write(`--- console ---\n${result.console}\n--- end console ---\n`);
  const boot =
    result.bootMs !== undefined
      ? `, boot ${(result.bootMs / 1000).toFixed(1)} s (kernel start to script ${((result.guestBootMs ?? 0) / 1000).toFixed(1)} s)`
      : '';
  if (result.fastClockBoots) process.stderr.write(`vm-cli: ${result.fastClockBoots} boot(s) given up: the guest clock ran fast (see the console log)\n`);
  process.stderr.write(
    `vm-cli: ${result.mode} exit ${result.exitCode} in ${(result.durationMs / 1000).toFixed(1)} s${boot}` +
      (result.logFile ? `, console log ${result.logFile}` : '') + '\n',
  );
  if (result.timedOut) process.stderr.write('vm-cli: timed out, killed\n');
  if (result.bootFailure) {
    process.stderr.write(`vm-cli: VM failed before the command ran: ${result.bootFailure}\n`);
    if (!showConsole) process.stderr.write(result.console.split('\n').slice(-30).join('\n') + '\n');
  }
  process.exitCode = result.exitCode;
}

main().catch((e: unknown) => {
  process.stderr.write(`vm-cli: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(125);
});
