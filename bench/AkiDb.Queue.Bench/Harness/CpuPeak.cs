using System.Globalization;

namespace AkiDb.Queue.Bench.Harness;

/// <summary>
/// This CPU's peak multiply-add rate, from /proc/cpuinfo: cores x clock x multiply-adds per cycle per core.
/// Per cycle per core: two FMA pipes (Intel server cores since Skylake-SP, AMD since Zen 2) of the vector datapath's
/// width in fp32 lanes; AMD's Zen 4 (family 0x19) runs AVX-512 through a 256-bit datapath (each 512-bit op takes two
/// passes). int8: with VNNI (<c>vpdpbusd</c>) four multiply-adds per 32-bit lane at the FMA rate, four times fp32; without
/// it, the <c>vpmaddubsw</c> route ONNX Runtime's MLAS takes gives about twice fp32. The clock is measured
/// (<see cref="CpuClock"/>: in a VM the kernel reports the nominal clock, not the boost the cores run at), all cores at
/// once: the ceiling for the arithmetic a benchmark reached, not a rate any kernel sustains. A VM's cores may be
/// hyperthreads sharing one core's vector units; nothing inside the VM tells, so each counts as a core.
/// </summary>
public sealed record CpuPeak(string Model, int Cores, double GHz, double ReportedGHz, int DatapathBits, bool Vnni, string Flags)
{
    public int Fp32MacsPerCycle => 2 * DatapathBits / 32;

    public int Int8MacsPerCycle => Fp32MacsPerCycle * (Vnni ? 4 : 2);

    public double Fp32PeakMacs => Cores * GHz * 1e9 * Fp32MacsPerCycle;

    public double Int8PeakMacs => Cores * GHz * 1e9 * Int8MacsPerCycle;

    public string Describe() =>
        $"{Model}: {Cores} cores x {GHz:F2} GHz (measured, all cores at once: dependent integer adds, one per cycle; the kernel reports {ReportedGHz:F2}) x {Fp32MacsPerCycle} fp32 multiply-adds/cycle ({DatapathBits}-bit datapath, 2 FMA pipes; flags {Flags}) = " +
        $"{Fp32PeakMacs / 1e9:F0} G fp32 MAC/s; int8 {Int8MacsPerCycle}/cycle ({(Vnni ? "VNNI: 4x fp32" : "no VNNI: 2x fp32")}) = {Int8PeakMacs / 1e9:F0} G int8 MAC/s";

    public static CpuPeak Read(string cpuinfo = "/proc/cpuinfo")
    {
        var lines = File.ReadLines(cpuinfo).ToList();
        string Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal) && l.Contains(':'))?.Split(':', 2)[1].Trim() ?? "";
        var flags = Field("flags").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var mhz = lines.Where(l => l.StartsWith("cpu MHz", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(':', 2)[1].Trim(), CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();
        var amdZen4 = Field("vendor_id") == "AuthenticAMD" && int.TryParse(Field("cpu family"), out var family) && family == 0x19;
        var bits = flags.Contains("avx512f") ? (amdZen4 ? 256 : 512) : flags.Contains("avx2") ? 256 : 128;
        var vnni = flags.Contains("avx512_vnni") || flags.Contains("avx_vnni");
        var shown = string.Join(' ', new[] { "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8" }.Where(flags.Contains));
        return new CpuPeak(Field("model name"), Environment.ProcessorCount, CpuClock.Measure(Environment.ProcessorCount) / 1e9, mhz / 1000, bits, vnni, shown);
    }
}
