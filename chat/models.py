from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("owner")
    )
    title = models.CharField(_("title"), max_length=200, default="New conversation")
    keeps_title = models.BooleanField(
        _("keeps its title"),
        default=False,
        help_text=_(
            "The title was given by “Ask about this prediction” or by the owner; only a conversation without one is "
            "named after its first message."
        ),
    )
    model = models.CharField(_("model"), max_length=100, help_text=_("The chat model this conversation talks to."))
    context = models.TextField(
        _("context"),
        blank=True,
        help_text=_("Facts the conversation carries, e.g. a prediction's label and probabilities."),
    )
    prediction = models.ForeignKey(
        "classifier.Prediction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("prediction"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("chat_conversation", args=[self.pk])


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Status(models.TextChoices):
        COMPLETE = "complete", _("Complete")
        STREAMING = "streaming", _("Being written")
        INCOMPLETE = "incomplete", _("Cut short")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    content = models.TextField(_("content"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(_("error"), blank=True, help_text=_("What went wrong, as shown to the user."))
    model = models.CharField(_("model"), max_length=100, blank=True)
    photos = models.ManyToManyField(
        "classifier.Prediction",
        blank=True,
        related_name="chat_messages",
        verbose_name=_("photos"),
        help_text=_("Photos sent with the message, each stored as the sender's prediction."),
    )
    tool_calls = models.JSONField(
        _("tool calls"), default=list, blank=True, help_text=_("Tools the model called for this answer.")
    )
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), null=True, blank=True)
    stop_requested = models.BooleanField(_("stop requested"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self):
        return f"{self.role}: {self.content[:60]}"
