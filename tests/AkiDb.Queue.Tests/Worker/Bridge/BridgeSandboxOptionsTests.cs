using System.ComponentModel.DataAnnotations;
using System.Text;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Tests.Bridge;

public sealed class BridgeSandboxOptionsTests
{
    [Fact]
    public void By_default_init_asks_for_every_restriction_in_the_protocols_field_names()
    {
        var header = new BridgeOptions().Sandbox.ToHeader();

        var json = Encoding.UTF8.GetString(BridgeJsonContext.Serialize(new InitHeader("auto", null, ["CPU"], 1, 1, 1024, "info", [], false, Sandbox: header)));
        Assert.Contains("\"sandbox\":{\"no_new_privs\":true,\"deny_network\":true,\"max_address_space_bytes\":17179869184,\"max_open_files\":256}", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Turned_off_init_carries_no_sandbox_and_the_bridge_restricts_nothing()
    {
        var options = new BridgeOptions { Sandbox = { Enabled = false } };

        Assert.Null(options.Sandbox.ToHeader());
        Assert.DoesNotContain("sandbox", Encoding.UTF8.GetString(BridgeJsonContext.Serialize(new InitHeader("auto", null, ["CPU"], 1, 1, 1024, "info", [], false))), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(512, 256, "Bridge:Sandbox:MaxAddressSpaceMiB 512")]
    [InlineData(16384, 8, "Bridge:Sandbox:MaxOpenFiles 8")]
    public void Limits_too_small_for_a_model_are_refused_naming_the_key(int addressSpaceMiB, int openFiles, string message)
    {
        var options = new BridgeOptions { Sandbox = { MaxAddressSpaceMiB = addressSpaceMiB, MaxOpenFiles = openFiles } };

        var errors = options.Validate(new ValidationContext(options)).ToList();

        Assert.Contains(errors, e => e.ErrorMessage!.StartsWith(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Zero_means_no_limit_and_is_valid()
    {
        var options = new BridgeOptions { Sandbox = { MaxAddressSpaceMiB = 0, MaxOpenFiles = 0 } };

        Assert.Empty(options.Validate(new ValidationContext(options)));
    }

    [Fact]
    public void The_ready_report_reads_as_the_restrictions_in_force()
    {
        var reply = BridgeJsonContext.ParseReply("""
            {"type":"ready","sandbox":{"no_new_privs":true,"network":"unix sockets only (seccomp)","max_open_files":256,
             "max_address_space_bytes":17179869184,"nonewprivs":"1","seccomp":"2","off":[{"part":"x","reason":"y"}]}}
            """u8.ToArray());

        Assert.Equal("no new privileges, unix sockets only (seccomp), address space <= 16384 MiB, <= 256 open files", reply.Sandbox!.Describe());
        Assert.Equal("2", reply.Sandbox.Seccomp);
        Assert.Equal(new SandboxPartOff("x", "y"), Assert.Single(reply.Sandbox.Off!));
        Assert.Equal("network allowed", new BridgeSandboxReport(false, "allowed", null, null, "0", []).Describe());
    }
}
