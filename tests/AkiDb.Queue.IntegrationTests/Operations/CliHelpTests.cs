using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary><c>--help</c> of every command renders in full (descriptions are plain text, never console markup).</summary>
public sealed class CliHelpTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_commands_help_renders_its_whole_option_list()
    {
        var commands = await CliRunner.CommandsAsync(output);
        // The two a newcomer asks about first, which crashed on "[CLS]" in an option's description.
        Assert.Contains("embed", commands);
        Assert.Contains("publish", commands);

        foreach (var command in commands)
        {
            var help = await CliRunner.RunAsync(output, command, "--help");

            Assert.True(help.ExitCode == 0, $"{command} --help exited {help.ExitCode}: {help.StandardOutput}{help.StandardError}");
            Assert.DoesNotContain("Error", help.StandardOutput + help.StandardError, StringComparison.Ordinal);
            var options = help.StandardOutput.IndexOf("OPTIONS:", StringComparison.Ordinal);
            Assert.True(options >= 0, $"{command} --help has no OPTIONS section");
            // Spectre lists -h, --help first and the command's own options after it: the last of those is the proof
            // that the whole list was rendered, not just its start.
            Assert.Contains("-h, --help", help.StandardOutput[options..], StringComparison.Ordinal);
            Assert.Matches(@"--[a-z]", help.StandardOutput[(help.StandardOutput.IndexOf("-h, --help", options, StringComparison.Ordinal) + 10)..]);
        }

        var embed = await CliRunner.RunAsync(output, "embed", "--help");
        Assert.Contains("([CLS], [SEP] included)", embed.StandardOutput, StringComparison.Ordinal);
    }
}
