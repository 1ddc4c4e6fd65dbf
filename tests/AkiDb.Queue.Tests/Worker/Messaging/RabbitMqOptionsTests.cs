using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Worker.Messaging;

namespace AkiDb.Queue.Tests;

/// <summary>The broker URL holds the password: no message about it, valid or not, may contain it.</summary>
public sealed class RabbitMqOptionsTests
{
    private const string Password = "S3cr3t-Pw";

    public static TheoryData<string> MalformedUrls => new()
    {
        $"amqp//guest:{Password}@127.0.0.1:5672/",          // a missing colon
        $"amqp://guest:{Password}@127.0.0.1:notaport/",     // a non-numeric port
        $"amqp://guest:{Password}@127.0.0.1:99999/",        // a port out of range
        $"amqp://guest:{Password}@:5672/",                  // no host
        $"amqp:/guest:{Password}@127.0.0.1:5672/",          // one slash: no authority at all
        $"guest:{Password}@127.0.0.1:5672",                 // no scheme ("guest" reads as one)
        $"http://guest:{Password}@127.0.0.1:5672/",         // not AMQP
    };

    [Theory]
    [MemberData(nameof(MalformedUrls))]
    public void A_malformed_url_fails_validation_without_echoing_it(string url)
    {
        var results = Validate(new RabbitMqOptions { Url = url });

        var result = Assert.Single(results);
        Assert.StartsWith("RabbitMq:Url", result.ErrorMessage, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, result.ErrorMessage, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, RabbitMqOptions.Redact(url), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("amqp://guest:" + Password + "@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/")]
    [InlineData("amqps://user:" + Password + "@broker.example/prod", "amqps://user:***@broker.example/prod")]
    [InlineData("amqp://user:S3cr%40t%20Pw@host:5672/%2Fvh", "amqp://user:***@host:5672/%2Fvh")]
    [InlineData("amqp://guest:S3 cr3t@host/", "amqp://guest:***@host/")]
    [InlineData("amqp://onlyuser@host:5672/", "amqp://onlyuser@host:5672/")]
    [InlineData("amqp://host:5672/", "amqp://host:5672/")]
    public void A_valid_url_is_shown_with_the_password_masked(string url, string expected)
    {
        Assert.Empty(Validate(new RabbitMqOptions { Url = url }));
        Assert.Equal(expected, RabbitMqOptions.Redact(url));
    }

    private static List<ValidationResult> Validate(RabbitMqOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
