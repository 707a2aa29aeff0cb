from django.contrib import admin
from django.db.models import Count, Sum
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chat.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fields = (
        "created_at",
        "role",
        "content",
        "photos",
        "status",
        "error",
        "model",
        "prompt_tokens",
        "completion_tokens",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "model", "message_count", "tokens", "updated_at")
    list_filter = ("model", "updated_at")
    search_fields = ("title", "owner__username")
    readonly_fields = ("owner", "title", "model", "context", "prediction", "created_at", "updated_at")
    exclude = ("keeps_title",)
    inlines = [MessageInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(
                message_total=Count("messages"),
                prompt_total=Sum("messages__prompt_tokens"),
                completion_total=Sum("messages__completion_tokens"),
            )
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # readable by staff, written only by the chat itself

    @admin.display(description=_("messages"), ordering="message_total")
    def message_count(self, conversation):
        return conversation.message_total

    @admin.display(description=_("tokens (prompt + completion)"))
    def tokens(self, conversation):
        if conversation.prompt_total is None and conversation.completion_total is None:
            return gettext("not reported")
        return f"{conversation.prompt_total or 0} + {conversation.completion_total or 0}"
