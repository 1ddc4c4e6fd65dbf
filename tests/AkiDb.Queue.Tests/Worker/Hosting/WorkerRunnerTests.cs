using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

/// <summary>A failed start is described in one line that names the setting.</summary>
public sealed class WorkerRunnerTests
{
    [Fact]
    public void A_validation_failure_names_the_section_and_key()
    {
        var failure = new OptionsValidationException("", typeof(RabbitMqOptions),
            ["DataAnnotation validation failed for 'RabbitMqOptions' members: 'PrefetchCount' with the error: 'The field PrefetchCount must be between 0 and 65535.'."]);

        var line = WorkerRunner.Describe(failure);

        Assert.Equal("RabbitMq:PrefetchCount: The field PrefetchCount must be between 0 and 65535. Fix the setting and start again.", line);
    }

    [Fact]
    public void A_conversion_failure_names_the_key_but_not_the_value()
    {
        var failure = new InvalidOperationException("Failed to convert configuration value 'abc' at 'Bridge:Processes' to type 'System.Int32'.",
            new FormatException("The input string 'abc' was not in a correct format."));

        var line = WorkerRunner.Describe(failure);

        Assert.Equal("Bridge:Processes has a value that is not a valid Int32. Fix the setting and start again.", line);
    }

    [Fact]
    public void A_known_failure_is_its_message_and_an_unknown_one_stays_on_one_line()
    {
        Assert.Equal("fix X", WorkerRunner.Describe(new AggregateException(new StartupFailedException("fix X"))));

        var line = WorkerRunner.Describe(new InvalidOperationException("first\nsecond", new IOException("disk\r\nfull")));
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain('\r', line);
        Assert.Contains("IOException: disk full", line, StringComparison.Ordinal);
    }
}
