using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.Testing.Network;

/// <summary>
/// A private network on this machine for partition tests: a Linux bridge in the root namespace and one network
/// namespace per host (a broker node, a worker), each joined to the bridge by a veth pair and given an address on a
/// 10.213.N.0/24 subnet that exists only here (N is picked per run from the subnets nothing else on the machine uses).
/// Processes started in a host's namespace (<see cref="Exec"/>) reach each other and the root namespace (where the test
/// and the CLI run, at <see cref="GatewayAddress"/>) over the bridge, and nothing outside: the namespaces have no
/// default route. Faults are applied to links, never to processes: a link taken down (<see cref="CutAsync"/>), two hosts
/// unable to reach each other while both reach everyone else (blackhole routes, <see cref="BlockAsync"/>), and delay and
/// loss on a host's link (tc netem, <see cref="ImpairAsync"/>).
/// </summary>
/// <remarks>
/// Every name carries a per-run prefix, so a run never meets a leftover of another; a run's names and its owner's pid
/// are written to a state file, and a lab created later removes what a dead owner left (a test run killed half-way).
/// Needs root (CAP_NET_ADMIN) and iproute2; <see cref="UnavailableReason"/> says why not where it cannot work.
/// </remarks>
public sealed class NetworkLab : IAsyncDisposable
{
    private static readonly string StateDirectory = Path.Combine(Path.GetTempPath(), "akidb-netlab");
    private static readonly Lazy<Task<string?>> Probe = new(ProbeAsync);
    private readonly List<LabHost> _hosts = [];
    private readonly string _statePath;
    private int _disposed;

    private NetworkLab(string prefix, int subnet)
    {
        Prefix = prefix;
        Subnet = subnet;
        _statePath = Path.Combine(StateDirectory, prefix + ".json");
    }

    /// <summary>The run's prefix of every name (bridge, veths, namespaces), e.g. <c>aq1f2e</c>.</summary>
    public string Prefix { get; }

    /// <summary>The third octet of the lab's 10.213.N.0/24 subnet.</summary>
    public int Subnet { get; }

    public string BridgeName => Prefix + "br";

    /// <summary>The root namespace's address on the bridge: where the test process and the CLI appear to the hosts.</summary>
    public string GatewayAddress => $"10.213.{Subnet}.1";

    public IReadOnlyList<LabHost> Hosts => _hosts;

    /// <summary>Null where labs can be made; otherwise the reason (for a test's skip message).</summary>
    public static Task<string?> UnavailableReason() => Probe.Value;

    public static async Task<NetworkLab> CreateAsync()
    {
        if (await UnavailableReason() is { } reason)
        {
            throw new InvalidOperationException(reason);
        }

        await SweepLeftoversAsync();
        var prefix = "aq" + Convert.ToHexString(RandomNumberGenerator.GetBytes(2)).ToLowerInvariant();
        var lab = new NetworkLab(prefix, await FreeSubnetAsync());
        lab.SaveState();
        try
        {
            await Ip("link", "add", lab.BridgeName, "type", "bridge");
            lab.SaveState();
            await Ip("addr", "add", lab.GatewayAddress + "/24", "dev", lab.BridgeName);
            await Ip("link", "set", lab.BridgeName, "up");
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }

        return lab;
    }

    /// <summary>A new namespace joined to the bridge, at address 10.213.N.(10 + its index).</summary>
    /// <param name="role">Short and plain (letters and digits, at most 4), e.g. <c>n1</c> or <c>wk</c>: part of its interface names.</param>
    public async Task<LabHost> AddHostAsync(string role)
    {
        if (role.Length is 0 or > 4 || !role.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException($"Host role '{role}' must be 1-4 letters or digits.", nameof(role));
        }

        var host = new LabHost(role, $"akidb-{Prefix}-{role}", $"{Prefix}-{role}", $"{Prefix}-{role}i", $"10.213.{Subnet}.{10 + _hosts.Count}");
        _hosts.Add(host);
        SaveState();
        await Ip("netns", "add", host.Namespace);
        await Ip("link", "add", host.OuterLink, "type", "veth", "peer", "name", host.InnerLink);
        await Ip("link", "set", host.OuterLink, "master", BridgeName);
        await Ip("link", "set", host.OuterLink, "up");
        await Ip("link", "set", host.InnerLink, "netns", host.Namespace);
        await Ip("-n", host.Namespace, "addr", "add", host.Address + "/24", "dev", host.InnerLink);
        await Ip("-n", host.Namespace, "link", "set", host.InnerLink, "up");
        await Ip("-n", host.Namespace, "link", "set", "lo", "up");
        return host;
    }

    /// <summary>A command that runs <paramref name="program"/> inside the host's namespace (<c>ip netns exec</c>, which execs it: same pid).</summary>
    public static Command Exec(LabHost host, string program, IEnumerable<string> arguments) =>
        Cli.Wrap("ip").WithArguments(["netns", "exec", host.Namespace, program, .. arguments]);

    /// <summary>The host's link taken down: it reaches no one and no one reaches it; open TCP connections go silent.</summary>
    public Task CutAsync(LabHost host) => Ip("link", "set", Own(host).OuterLink, "down");

    /// <summary>The host's link up again.</summary>
    public Task HealAsync(LabHost host) => Ip("link", "set", Own(host).OuterLink, "up");

    /// <summary>
    /// <paramref name="a"/> and <paramref name="b"/> can no longer reach each other (packets silently dropped by a /32
    /// blackhole route on each side), while both still reach every other host.
    /// </summary>
    public async Task BlockAsync(LabHost a, LabHost b)
    {
        (a, b) = (Own(a), Own(b));
        await Ip("-n", a.Namespace, "route", "replace", "blackhole", b.Address + "/32");
        await Ip("-n", b.Namespace, "route", "replace", "blackhole", a.Address + "/32");
    }

    public async Task UnblockAsync(LabHost a, LabHost b)
    {
        (a, b) = (Own(a), Own(b));
        await IpAllowFailure("-n", a.Namespace, "route", "del", "blackhole", b.Address + "/32");
        await IpAllowFailure("-n", b.Namespace, "route", "del", "blackhole", a.Address + "/32");
    }

    /// <summary>
    /// Delay and loss (tc netem) on both ends of the host's link, so both directions see them. Where the kernel has no
    /// netem (some VM kernels ship without sch_netem: "Specified qdisc kind is unknown"), a token bucket (tc tbf) at
    /// <see cref="SlowLinkRate"/> whose queue holds at most <paramref name="delay"/> of traffic instead: a slow link that
    /// delays by up to that much and drops what would wait longer. Returns what was applied, for the report.
    /// </summary>
    public async Task<string> ImpairAsync(LabHost host, TimeSpan delay, double lossPercent)
    {
        host = Own(host);
        var ms = $"{(int)delay.TotalMilliseconds}ms";
        string[] qdisc = await HasNetemAsync()
            ? ["netem", "delay", ms, "loss", lossPercent.ToString("0.##", CultureInfo.InvariantCulture) + "%"]
            : ["tbf", "rate", SlowLinkRate, "burst", "16kbit", "latency", ms];
        await Run("tc", ["qdisc", "replace", "dev", host.OuterLink, "root", .. qdisc]);
        await Run("ip", ["netns", "exec", host.Namespace, "tc", "qdisc", "replace", "dev", host.InnerLink, "root", .. qdisc]);
        return DescribeImpairment(delay, lossPercent);
    }

    /// <summary>The rate of the token-bucket fallback of <see cref="ImpairAsync"/>.</summary>
    public const string SlowLinkRate = "256kbit";

    /// <summary>What <see cref="ImpairAsync"/> applies on this machine, in words.</summary>
    public static string DescribeImpairment(TimeSpan delay, double lossPercent) =>
        HasNetemAsync().GetAwaiter().GetResult()
            ? $"tc netem delay {(int)delay.TotalMilliseconds} ms, loss {lossPercent.ToString("0.##", CultureInfo.InvariantCulture)} %"
            : $"tc tbf {SlowLinkRate}/s with at most {(int)delay.TotalMilliseconds} ms queued, excess dropped (this kernel has no netem, so not {(int)delay.TotalMilliseconds} ms + {lossPercent.ToString("0.##", CultureInfo.InvariantCulture)} % loss)";

    private static Task<bool>? _hasNetem;

    /// <summary>Whether this kernel has the netem qdisc: tried once on the loopback of a throwaway namespace.</summary>
    public static Task<bool> HasNetemAsync() => _hasNetem ??= ProbeNetemAsync();

    private static async Task<bool> ProbeNetemAsync()
    {
        var name = "akidb-probe-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        try
        {
            if ((await Run("ip", ["netns", "add", name], allowFailure: true)).ExitCode != 0)
            {
                return false;
            }

            var added = await Run("ip", ["netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], allowFailure: true);
            return added.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
        finally
        {
            try
            {
                await Run("ip", ["netns", "del", name], allowFailure: true);
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    public async Task ClearImpairmentAsync(LabHost host)
    {
        host = Own(host);
        await Run("tc", ["qdisc", "del", "dev", host.OuterLink, "root"], allowFailure: true);
        await Run("ip", ["netns", "exec", host.Namespace, "tc", "qdisc", "del", "dev", host.InnerLink, "root"], allowFailure: true);
    }

    /// <summary>Kills whatever still runs in the namespaces, then removes them, their links and the bridge.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await RemoveAsync(BridgeName, _hosts.Select(h => (h.Namespace, h.OuterLink)).ToList());
        File.Delete(_statePath);
    }

    private static async Task RemoveAsync(string bridge, IReadOnlyList<(string Namespace, string OuterLink)> hosts)
    {
        foreach (var (ns, _) in hosts)
        {
            // A namespace is kept alive by its processes: they go first (the lab started them; nothing else runs there).
            for (var round = 0; round < 50; round++)
            {
                var pids = (await Run("ip", ["netns", "pids", ns], allowFailure: true)).StandardOutput
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(p => int.TryParse(p, CultureInfo.InvariantCulture, out var pid) ? pid : 0).Where(p => p > 0).ToList();
                if (pids.Count == 0)
                {
                    break;
                }

                foreach (var pid in pids)
                {
                    try
                    {
                        Signals.Send(pid, Signals.Kill);
                    }
                    catch (InvalidOperationException)
                    {
                        // Gone already.
                    }
                }

                // Polling for the killed processes to be reaped.
                await Task.Delay(100);
            }

            await IpAllowFailure("netns", "del", ns);
        }

        // Deleting a namespace deletes the veth end in it, and with it the pair; a half-made host may have left the outer end.
        foreach (var (_, link) in hosts)
        {
            await IpAllowFailure("link", "del", link);
        }

        await IpAllowFailure("link", "del", bridge);
    }

    private void SaveState()
    {
        Directory.CreateDirectory(StateDirectory);
        File.WriteAllText(_statePath, JsonSerializer.Serialize(new LabState(Environment.ProcessId, ProcessStart(Environment.ProcessId), BridgeName,
            [.. _hosts.Select(h => h.Namespace)], [.. _hosts.Select(h => h.OuterLink)], Subnet)));
    }

    /// <summary>Labs whose owning process is gone (a run killed before it cleaned up) are removed.</summary>
    private static async Task SweepLeftoversAsync()
    {
        if (!Directory.Exists(StateDirectory))
        {
            return;
        }

        foreach (var file in Directory.GetFiles(StateDirectory, "*.json"))
        {
            LabState? state;
            try
            {
                state = JsonSerializer.Deserialize<LabState>(File.ReadAllText(file));
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                continue;
            }

            // The same pid with another start time is a new process that reused it: the owner is gone all the same.
            if (state is null || (Signals.IsAlive(state.OwnerPid) && ProcessStart(state.OwnerPid) == state.OwnerStart))
            {
                continue;
            }

            await RemoveAsync(state.Bridge, state.Namespaces.Zip(state.OuterLinks).ToList());
            File.Delete(file);
        }
    }

    private static string ProcessStart(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>A 10.213.N.0/24 subnet no address on this machine (root namespace) and no other live lab uses.</summary>
    private static async Task<int> FreeSubnetAsync()
    {
        var used = (await Run("ip", ["-4", "-o", "addr", "show"])).StandardOutput;
        var taken = Directory.Exists(StateDirectory)
            ? Directory.GetFiles(StateDirectory, "*.json").Select(f =>
            {
                try
                {
                    return JsonSerializer.Deserialize<LabState>(File.ReadAllText(f))?.Subnet ?? -1;
                }
                catch (Exception e) when (e is JsonException or IOException)
                {
                    return -1;
                }
            }).ToHashSet()
            : [];
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var subnet = RandomNumberGenerator.GetInt32(1, 255);
            if (!taken.Contains(subnet) && !used.Contains($" 10.213.{subnet}.", StringComparison.Ordinal))
            {
                return subnet;
            }
        }

        throw new InvalidOperationException("No free 10.213.N.0/24 subnet for a network lab.");
    }

    private static async Task<string?> ProbeAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces need Linux";
        }

        var name = "akidb-probe-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        try
        {
            var added = await Run("ip", ["netns", "add", name], allowFailure: true);
            if (added.ExitCode != 0)
            {
                return $"network namespaces cannot be created here ('ip netns add' as user '{Environment.UserName}': {added.StandardError.Trim()}); they need root (CAP_NET_ADMIN)";
            }

            var tc = await Run("tc", ["-V"], allowFailure: true);
            return tc.ExitCode != 0 ? "tc (iproute2) is not installed" : null;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"iproute2 is not installed ({e.Message})";
        }
        finally
        {
            try
            {
                await Run("ip", ["netns", "del", name], allowFailure: true);
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    private static Task<BufferedCommandResult> Ip(params string[] arguments) => Run("ip", arguments);

    private static Task<BufferedCommandResult> IpAllowFailure(params string[] arguments) => Run("ip", arguments, allowFailure: true);

    /// <summary>Faults touch only this lab's links: a host of another lab (another run) is refused.</summary>
    private LabHost Own(LabHost host) =>
        _hosts.Contains(host) ? host : throw new ArgumentException($"Host {host.Namespace} does not belong to lab {Prefix}.", nameof(host));

    private static async Task<BufferedCommandResult> Run(string program, IEnumerable<string> arguments, bool allowFailure = false)
    {
        var result = await Cli.Wrap(program).WithArguments(arguments).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync();
        if (result.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.StandardError.Trim()}");
        }

        return result;
    }

    private sealed record LabState(int OwnerPid, string OwnerStart, string Bridge, string[] Namespaces, string[] OuterLinks, int Subnet);
}

/// <summary>One namespace of a <see cref="NetworkLab"/>: its name, its two link ends and its address.</summary>
/// <param name="OuterLink">The veth end on the bridge, in the root namespace.</param>
/// <param name="InnerLink">The veth end inside the namespace, holding <paramref name="Address"/>.</param>
public sealed record LabHost(string Role, string Namespace, string OuterLink, string InnerLink, string Address);
