from common.masking import can_view_pii


def console(request):
    return {"can_view_pii": can_view_pii(getattr(request, "user", None))}
